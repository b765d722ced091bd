// mtcute 0.29.7's own TL reader (layer 225) on the dev server's answers:
// the test's side of TestMtcuteReadsAnswers. stdin: a JSON list of
// {name, hex, vector}; stdout: a JSON object of what mtcute read, by name.
const path = require("path");
const modules = process.env.NODE_PATH;
const { TlBinaryReader } = require(path.join(modules, "@mtcute/tl-runtime/reader.cjs"));
const { __tlReaderMap } = require(path.join(modules, "@mtcute/core/tl/binary/reader.cjs"));

let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  const out = {};
  for (const c of JSON.parse(input)) {
    const buf = Buffer.from(c.hex, "hex");
    try {
      const r = new TlBinaryReader(__tlReaderMap, buf);
      const obj = c.vector ? r.vector() : r.object();
      if (r.pos !== buf.length) throw new Error(`read ${r.pos} of ${buf.length} bytes`);
      out[c.name] = JSON.parse(JSON.stringify(obj, (k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)));
    } catch (e) {
      out[c.name] = { error: String(e) };
    }
  }
  console.log(JSON.stringify(out));
});
