//! DynamoDB ION export data -> DYNAMODB_JSON lines, read with Amazon's `ion-rs`.
//!
//! A DynamoDB ION export holds one `$ion_1_0 {Item:{...}}` value per line (text Ion, gzip):
//! N as Ion decimals, B as blobs, sets as lists annotated `$dynamodb_SS` / `$dynamodb_NS` /
//! `$dynamodb_BS`. Each top-level value becomes the DYNAMODB_JSON line
//! `{"Item":{"a":{"S":"x"},...}}` that `ddb_assets.tables.codec.ion_lines_to_dynamodb_json`
//! (the amazon.ion reference) writes, byte for byte: numbers keep their exact value in
//! DynamoDB's canonical spelling (plain digits, no exponent, as its JSON export), blobs become base64, strings are escaped
//! like Python's `json` with `ensure_ascii=False`. Anything DynamoDB cannot hold (timestamps,
//! non-finite floats, a set of the wrong element type, a repeated field name) is an error
//! naming the value's position, never a guess.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ion_rs::{AnyEncoding, Decimal, Decoder, LazyStruct, LazyValue, Reader, ValueRef};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

type Res<T> = Result<T, String>;

fn ion_err(e: ion_rs::IonError) -> String {
    e.to_string()
}

/// DynamoDB's canonical text of the number `(-1)^neg * digits * 10^exp` (`digits` in ASCII),
/// as its DYNAMODB_JSON export writes it: plain digits and never an exponent (`6d2` -> `600`,
/// `1d-130` -> `0.000...01`), no leading zeros but the one before the point, no trailing
/// fractional zeros (`1.50` -> `1.5`), zero unsigned (`-0.00` -> `0`). The reference
/// (`codec._decimal_text`) and the Athena engine (`athena_ion.decimal_text_sql`) agree.
pub fn canonical_number(neg: bool, digits: &[u8], exp: i64, out: &mut Vec<u8>) {
    let lead = digits.iter().take_while(|&&b| b == b'0').count();
    let mut c = &digits[lead..];
    if c.is_empty() {
        out.push(b'0');
        return;
    }
    let mut exp = exp;
    if exp < 0 {
        let trailing = c.iter().rev().take_while(|&&b| b == b'0').count() as i64;
        let cut = trailing.min(-exp);
        c = &c[..c.len() - cut as usize];
        exp += cut;
    }
    if neg {
        out.push(b'-');
    }
    if exp >= 0 {
        out.extend_from_slice(c);
        out.resize(out.len() + exp as usize, b'0');
        return;
    }
    let point = c.len() as i64 + exp;
    if point > 0 {
        out.extend_from_slice(&c[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&c[point as usize..]);
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        out.extend_from_slice(c);
    }
}

/// An Ion decimal in DynamoDB's canonical spelling (see [`canonical_number`]).
pub fn decimal_text(d: &Decimal, out: &mut Vec<u8>) {
    let c = d.coefficient();
    let digits = c.magnitude().to_string();
    canonical_number(c.is_negative(), digits.as_bytes(), d.exponent(), out);
}

/// An Ion float as the DynamoDB number of its shortest round-trip digits (Python's
/// `repr(float)` read as a decimal), in the canonical spelling: `1e16` -> `10000000000000000`.
pub fn float_text(f: f64, out: &mut Vec<u8>) -> Res<()> {
    if !f.is_finite() {
        return Err(format!("the float {f} is not a DynamoDB number"));
    }
    let s = format!("{f:e}");
    let (mant, exp) = s.split_once('e').expect("{:e} has an exponent");
    let exp: i64 = exp.parse().expect("{:e} exponent is an integer");
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits = format!("{int_part}{frac}");
    canonical_number(neg, digits.as_bytes(), exp - frac.len() as i64, out);
    Ok(())
}

/// A JSON string as Python's `json` writes it with `ensure_ascii=False`.
pub fn json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn b64(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    out.extend_from_slice(B64.encode(bytes).as_bytes());
    out.push(b'"');
}

#[derive(Clone, Copy, PartialEq)]
enum SetKind {
    SS,
    NS,
    BS,
}

fn set_kind<D: Decoder>(v: &LazyValue<'_, D>) -> Res<Option<SetKind>> {
    if !v.has_annotations() {
        return Ok(None);
    }
    let (mut ss, mut ns, mut bs) = (false, false, false);
    for a in v.annotations() {
        match a.map_err(ion_err)?.text() {
            Some("$dynamodb_SS") => ss = true,
            Some("$dynamodb_NS") => ns = true,
            Some("$dynamodb_BS") => bs = true,
            _ => {}
        }
    }
    // The reference checks SS, then NS, then BS.
    Ok(if ss {
        Some(SetKind::SS)
    } else if ns {
        Some(SetKind::NS)
    } else if bs {
        Some(SetKind::BS)
    } else {
        None
    })
}

fn number<D: Decoder>(v: ValueRef<'_, D>, out: &mut Vec<u8>) -> Res<bool> {
    match v {
        ValueRef::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        ValueRef::Decimal(d) => decimal_text(&d, out),
        _ => return Ok(false),
    }
    Ok(true)
}

fn set_elements<'top, D: Decoder>(
    kind: SetKind,
    elements: impl Iterator<Item = ion_rs::IonResult<LazyValue<'top, D>>>,
    out: &mut Vec<u8>,
) -> Res<()> {
    out.extend_from_slice(match kind {
        SetKind::SS => b"{\"SS\":[",
        SetKind::NS => b"{\"NS\":[",
        SetKind::BS => b"{\"BS\":[",
    });
    for (i, e) in elements.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let e = e.map_err(ion_err)?.read().map_err(ion_err)?;
        let ok = match (kind, e) {
            (SetKind::SS, ValueRef::String(s)) => {
                json_str(s.text(), out);
                true
            }
            (SetKind::SS, ValueRef::Symbol(s)) => match s.text() {
                Some(t) => {
                    json_str(t, out);
                    true
                }
                None => false,
            },
            (SetKind::NS, e) => {
                out.push(b'"');
                let ok = number(e, out)?;
                out.push(b'"');
                ok
            }
            (SetKind::BS, ValueRef::Blob(b) | ValueRef::Clob(b)) => {
                b64(b.data(), out);
                true
            }
            _ => false,
        };
        if !ok {
            let name = match kind {
                SetKind::SS => "$dynamodb_SS holds a value that is not a string",
                SetKind::NS => "$dynamodb_NS holds a value that is not an int or decimal",
                SetKind::BS => "$dynamodb_BS holds a value that is not a blob",
            };
            return Err(name.to_string());
        }
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

fn value<D: Decoder>(v: LazyValue<'_, D>, out: &mut Vec<u8>) -> Res<()> {
    match v.read().map_err(ion_err)? {
        ValueRef::Null(_) => out.extend_from_slice(b"{\"NULL\":true}"),
        ValueRef::Bool(b) => out.extend_from_slice(if b {
            b"{\"BOOL\":true}"
        } else {
            b"{\"BOOL\":false}"
        }),
        n @ (ValueRef::Int(_) | ValueRef::Decimal(_)) => {
            out.extend_from_slice(b"{\"N\":\"");
            number(n, out)?;
            out.extend_from_slice(b"\"}");
        }
        ValueRef::Float(f) => {
            out.extend_from_slice(b"{\"N\":\"");
            float_text(f, out)?;
            out.extend_from_slice(b"\"}");
        }
        ValueRef::String(s) => {
            out.extend_from_slice(b"{\"S\":");
            json_str(s.text(), out);
            out.push(b'}');
        }
        ValueRef::Symbol(s) => {
            let t = s.text().ok_or("a symbol with unknown text")?;
            out.extend_from_slice(b"{\"S\":");
            json_str(t, out);
            out.push(b'}');
        }
        ValueRef::Blob(b) | ValueRef::Clob(b) => {
            out.extend_from_slice(b"{\"B\":");
            b64(b.data(), out);
            out.push(b'}');
        }
        ValueRef::List(l) => match set_kind(&v)? {
            Some(k) => set_elements(k, l.iter(), out)?,
            None => {
                out.extend_from_slice(b"{\"L\":[");
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    value(e.map_err(ion_err)?, out)?;
                }
                out.extend_from_slice(b"]}");
            }
        },
        ValueRef::SExp(l) => match set_kind(&v)? {
            Some(k) => set_elements(k, l.iter(), out)?,
            None => {
                out.extend_from_slice(b"{\"L\":[");
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    value(e.map_err(ion_err)?, out)?;
                }
                out.extend_from_slice(b"]}");
            }
        },
        ValueRef::Struct(s) => {
            out.extend_from_slice(b"{\"M\":");
            fields(s, out)?;
            out.push(b'}');
        }
        ValueRef::Timestamp(_) => return Err("a timestamp (no DynamoDB type holds one)".into()),
    }
    Ok(())
}

/// `{"name":<value>,...}`; a repeated field name is refused (a DynamoDB item or map never has
/// one, and JSON readers disagree about which copy wins).
fn fields<D: Decoder>(s: LazyStruct<'_, D>, out: &mut Vec<u8>) -> Res<()> {
    let mut seen: Vec<&str> = Vec::new();
    out.push(b'{');
    for (i, f) in s.iter().enumerate() {
        let f = f.map_err(ion_err)?;
        let name = f.name().map_err(ion_err)?;
        let name = name.text().ok_or("a field name with unknown text")?;
        if seen.contains(&name) {
            return Err(format!("the field name {name:?} appears twice in one struct"));
        }
        seen.push(name);
        if i > 0 {
            out.push(b',');
        }
        json_str(name, out);
        out.push(b':');
        value(f.value(), out)
            .map_err(|e| format!("{e} (in field {name:?})"))?;
    }
    out.push(b'}');
    Ok(())
}

/// One top-level value `{Item:{...}}` as a DYNAMODB_JSON line (with its newline).
fn item_line<D: Decoder>(top: LazyValue<'_, D>, out: &mut Vec<u8>) -> Res<()> {
    let ValueRef::Struct(top) = top.read().map_err(ion_err)? else {
        return Err("a top-level value that is not a struct {Item:{...}}".into());
    };
    let item = top
        .get("Item")
        .map_err(ion_err)?
        .ok_or("a top-level struct without an Item field")?;
    let ValueRef::Struct(item) = item else {
        return Err("an Item that is not a struct".into());
    };
    out.extend_from_slice(b"{\"Item\":");
    fields(item, out)?;
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// Every top-level value of `input` as DYNAMODB_JSON lines into `sink`; returns the count.
/// `stop` is polled so that one failing file ends its siblings early.
fn transcode_stream<R: Read, W: Write>(input: R, sink: &mut W, stop: &AtomicBool) -> Res<u64> {
    let mut reader = Reader::new(AnyEncoding, BufReader::with_capacity(1 << 16, input))
        .map_err(ion_err)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 18);
    let mut n: u64 = 0;
    loop {
        let top = match reader.next() {
            Ok(Some(top)) => top,
            Ok(None) => break,
            Err(e) => return Err(format!("after {n} values: {}", ion_err(e))),
        };
        item_line(top, &mut buf).map_err(|e| format!("value {}: {e}", n + 1))?;
        n += 1;
        if buf.len() >= 1 << 18 {
            sink.write_all(&buf).map_err(|e| e.to_string())?;
            buf.clear();
            if stop.load(Ordering::Relaxed) {
                return Err("stopped".into());
            }
        }
    }
    sink.write_all(&buf).map_err(|e| e.to_string())?;
    Ok(n)
}

fn open_input(path: &str) -> Res<Box<dyn Read>> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 2];
    let got = f.read(&mut magic).map_err(|e| e.to_string())?;
    let head = std::io::Cursor::new(magic[..got].to_vec());
    let whole = head.chain(f);
    Ok(if got == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, whole)))
    } else {
        Box::new(whole)
    })
}

fn transcode_file(src: &str, dst: &str, level: Option<u32>, stop: &AtomicBool) -> Res<u64> {
    let input = open_input(src)?;
    let out = File::create(dst).map_err(|e| format!("cannot write {dst}: {e}"))?;
    let out = BufWriter::with_capacity(1 << 18, out);
    match level {
        Some(level) => {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            let n = transcode_stream(input, &mut gz, stop)?;
            gz.finish().and_then(|mut w| w.flush()).map_err(|e| e.to_string())?;
            Ok(n)
        }
        None => {
            let mut out = out;
            let n = transcode_stream(input, &mut out, stop)?;
            out.flush().map_err(|e| e.to_string())?;
            Ok(n)
        }
    }
}

/// Transcode the ION export files `srcs` (gzip or not, text or binary Ion) into the
/// DYNAMODB_JSON files `dsts` (gzip at `gzip_level`, or plain when None), over `threads`
/// threads without the GIL. Returns the items per file; raises ValueError
/// `"<src>: <what>"` for the first file that fails.
#[pyfunction]
#[pyo3(signature = (srcs, dsts, threads, gzip_level=None))]
fn transcode_files(
    py: Python<'_>,
    srcs: Vec<String>,
    dsts: Vec<String>,
    threads: usize,
    gzip_level: Option<u32>,
) -> PyResult<Vec<u64>> {
    if srcs.len() != dsts.len() {
        return Err(PyValueError::new_err("srcs and dsts differ in length"));
    }
    let result = py.detach(|| {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let counts = Mutex::new(vec![0u64; srcs.len()]);
        let first_error: Mutex<Option<(usize, String)>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads.clamp(1, srcs.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= srcs.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match transcode_file(&srcs[i], &dsts[i], gzip_level, &stop) {
                        Ok(n) => counts.lock().unwrap()[i] = n,
                        Err(e) => {
                            let mut first = first_error.lock().unwrap();
                            if e != "stopped" && first.as_ref().is_none_or(|(j, _)| i < *j) {
                                *first = Some((i, e));
                            }
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        match first_error.into_inner().unwrap() {
            Some((i, e)) => Err(format!("{}: {e}", srcs[i])),
            None => Ok(counts.into_inner().unwrap()),
        }
    });
    result.map_err(PyValueError::new_err)
}

/// The DYNAMODB_JSON lines of Ion data held in memory (text or binary): for tests.
#[pyfunction]
fn transcode_bytes(py: Python<'_>, data: Vec<u8>) -> PyResult<String> {
    let stop = AtomicBool::new(false);
    let out = py.detach(|| {
        let mut out: Vec<u8> = Vec::new();
        transcode_stream(std::io::Cursor::new(data), &mut out, &stop).map(|_| out)
    });
    let out = out.map_err(PyValueError::new_err)?;
    String::from_utf8(out).map_err(|e| PyValueError::new_err(e.to_string()))
}

#[pymodule]
fn ddb_ion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(transcode_files, m)?)?;
    m.add_function(wrap_pyfunction!(transcode_bytes, m)?)?;
    m.add("ION_RS_VERSION", "1.2.0")?;
    Ok(())
}

