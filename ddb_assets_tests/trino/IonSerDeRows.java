// The rows Athena's Ion SerDe (com.amazon.ionhiveserde.IonHiveSerDe) deserializes from Ion
// files, for the test front: Trino 476 has no Ion reader, so the front gives Trino these rows
// (as JSON lines) and Trino runs the query. Maven Central does not serve the SerDe's jar, so
// this follows its source for the declared columns our tables use, with Amazon's own Ion
// reader (ion-java) deciding every value:
//   * a column's value is the Ion value its path extractor '(a b ...)' reaches (field steps,
//     matched case-sensitively or not as 'ion.path_extractor.case_sensitive' says), or NULL;
//   * STRING (IonValueToStringObjectInspector): NULL for an Ion null, the text of a string or
//     symbol, otherwise the value's Ion text (IonValue.toString());
//   * MAP<STRING,STRING> (IonStructToMapObjectInspector): NULL for an Ion null, otherwise
//     every field of the struct (a later duplicate wins, as HashMap.put does), each value as
//     STRING above (an Ion null as NULL). A non-struct value fails, as the SerDe's cast does.
// Any other column type or path form is refused: the test would not be proving anything.
//
// Usage: java IonSerDeRows <spec>; spec lines: "case_sensitive<TAB>true|false",
// "column<TAB>name<TAB>type<TAB>(path)", "file<TAB>source.ion[.gz]<TAB>dest.jsonl.gz".

import com.amazon.ion.IonStruct;
import com.amazon.ion.IonSystem;
import com.amazon.ion.IonText;
import com.amazon.ion.IonType;
import com.amazon.ion.IonValue;
import com.amazon.ion.system.IonSystemBuilder;
import java.io.BufferedInputStream;
import java.io.BufferedWriter;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

public class IonSerDeRows {
    static final IonSystem ION = IonSystemBuilder.standard().build();

    record Column(String name, String type, List<String> path) {}

    public static void main(String[] args) throws Exception {
        boolean caseSensitive = false;
        List<Column> columns = new ArrayList<>();
        List<String[]> files = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            String[] f = line.split("\t", -1);
            switch (f[0]) {
                case "case_sensitive" -> caseSensitive = Boolean.parseBoolean(f[1]);
                case "column" -> columns.add(new Column(f[1], f[2].replace(" ", "").toLowerCase(), parsePath(f[3])));
                case "file" -> files.add(new String[] {f[1], f[2]});
                default -> throw new IllegalArgumentException("bad spec line: " + line);
            }
        }
        for (Column c : columns) {
            if (!c.type().equals("string") && !c.type().equals("map<string,string>")) {
                throw new IllegalArgumentException("column " + c.name() + ": type " + c.type() + " is not one this harness follows");
            }
        }
        for (String[] f : files) {
            convert(f[0], f[1], columns, caseSensitive);
        }
    }

    static List<String> parsePath(String text) {
        String t = text.trim();
        if (!t.startsWith("(") || !t.endsWith(")")) {
            throw new IllegalArgumentException("path extractor " + text + " is not an s-expression");
        }
        List<String> steps = new ArrayList<>();
        for (IonValue v : ION.getLoader().load(t).get(0) instanceof com.amazon.ion.IonSexp s ? s : List.<IonValue>of()) {
            if (v.getType() != IonType.SYMBOL && v.getType() != IonType.STRING) {
                throw new IllegalArgumentException("path extractor " + text + ": only field-name steps are followed");
            }
            steps.add(((IonText) v).stringValue());
        }
        return steps;
    }

    static IonValue follow(IonValue top, List<String> path, boolean caseSensitive) {
        IonValue v = top;
        for (String step : path) {
            if (!(v instanceof IonStruct s) || v.isNullValue()) {
                return null;
            }
            IonValue next = null;
            for (IonValue child : s) {
                String name = child.getFieldName();
                if (caseSensitive ? name.equals(step) : name.equalsIgnoreCase(step)) {
                    next = child;
                }
            }
            v = next;
            if (v == null) {
                return null;
            }
        }
        return v;
    }

    static String asString(IonValue v) {
        if (v == null || v.isNullValue()) {
            return null;
        }
        if (IonType.isText(v.getType())) {
            return ((IonText) v).stringValue();
        }
        return v.toString();
    }

    // JSON text of a Java string (or null), for Trino's JSON reader.
    static StringBuilder json(StringBuilder sb, String s) {
        if (s == null) {
            return sb.append("null");
        }
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch == '"' || ch == '\\') {
                sb.append('\\').append(ch);
            } else if (ch < 0x20 || ch == 0x7f) {
                sb.append(String.format("\\u%04x", (int) ch));
            } else {
                sb.append(ch);
            }
        }
        return sb.append('"');
    }

    static void convert(String src, String dst, List<Column> columns, boolean caseSensitive) throws Exception {
        InputStream raw = new BufferedInputStream(new FileInputStream(src));
        try (InputStream in = src.endsWith(".gz") ? new GZIPInputStream(raw) : raw;
             Writer out = new BufferedWriter(new OutputStreamWriter(
                 new GZIPOutputStream(new FileOutputStream(dst)), StandardCharsets.UTF_8))) {
            Iterator<IonValue> values = ION.iterate(in);
            while (values.hasNext()) {
                IonValue top = values.next();
                StringBuilder row = new StringBuilder("{");
                for (Column c : columns) {
                    if (row.length() > 1) {
                        row.append(',');
                    }
                    json(row, c.name()).append(':');
                    IonValue v = follow(top, c.path(), caseSensitive);
                    if (c.type().equals("string")) {
                        json(row, asString(v));
                    } else if (v == null || v.isNullValue()) {
                        row.append("null");
                    } else {
                        IonStruct struct = (IonStruct) v; // the SerDe's cast: a non-struct fails
                        Map<String, String> map = new LinkedHashMap<>();
                        for (IonValue child : struct) {
                            map.put(child.getFieldName(), asString(child));
                        }
                        row.append('{');
                        boolean first = true;
                        for (Map.Entry<String, String> e : map.entrySet()) {
                            if (!first) {
                                row.append(',');
                            }
                            first = false;
                            json(row, e.getKey()).append(':');
                            json(row, e.getValue());
                        }
                        row.append('}');
                    }
                }
                out.write(row.append('}').toString());
                out.write("\n");
            }
        }
    }
}
