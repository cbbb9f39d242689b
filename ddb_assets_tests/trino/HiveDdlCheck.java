// Reads one base64-encoded HiveQL statement per line on stdin; parses it with Hive's own
// parser (org.apache.hadoop.hive.ql.parse.ParseDriver, hive-exec) and answers one line:
// "OK <abstract syntax tree>" or "ERR <Hive's parse error>". Used by hive_grammar.py.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.apache.hadoop.hive.ql.parse.ASTNode;
import org.apache.hadoop.hive.ql.parse.ParseDriver;

public class HiveDdlCheck {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        ParseDriver driver = new ParseDriver();
        String line;
        while ((line = in.readLine()) != null) {
            String sql = new String(Base64.getDecoder().decode(line.trim()), StandardCharsets.UTF_8);
            String answer;
            try {
                ASTNode tree = driver.parse(sql);
                answer = "OK " + tree.toStringTree();
            } catch (Exception e) {
                answer = "ERR " + e.getMessage();
            }
            out.println(answer.replace('\n', ' ').replace('\r', ' '));
        }
    }
}
