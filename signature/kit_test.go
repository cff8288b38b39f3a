package signature

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlock returns the README's fenced block of lang that contains marker.
func readmeBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(string(b), "```"+lang+"\n")[1:] {
		block, _, ok := strings.Cut(part, "\n```")
		if ok && strings.Contains(block, marker) {
			return block
		}
	}
	t.Fatalf("README has no %s block with %q", lang, marker)
	return ""
}

const nodeHarness = `
const vectors = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
let n = 0, bad = [];
for (const v of vectors.vectors) {
  const body = Buffer.from(v.body, "utf8");
  if (!verifyHari(v.secret, { "x-webhook-signature": v.signature }, body)) bad.push("hex " + v.name);
  if (verifyHari(v.secret, { "x-webhook-signature": v.signature }, Buffer.concat([body, Buffer.from(" ")]))) bad.push("hex tampered " + v.name);
  n += 2;
}
for (const v of vectors.standard) {
  const h = { "webhook-id": v.id, "webhook-timestamp": String(v.timestamp), "webhook-signature": v.signature };
  if (verifyStandard(v.secret, h, Buffer.from(v.body, "utf8"), 300, v.now) !== v.valid) bad.push("standard " + v.name);
  n++;
}
if (bad.length) { console.log("FAIL " + bad.join("; ")); process.exit(1); }
console.log("ok " + n);
`

const pythonHarness = `
import json, sys
vectors = json.load(open(sys.argv[1], encoding="utf-8"))
n, bad = 0, []
for v in vectors["vectors"]:
    body = v["body"].encode()
    if not verify_hari(v["secret"], {"x-webhook-signature": v["signature"]}, body): bad.append("hex " + v["name"])
    if verify_hari(v["secret"], {"x-webhook-signature": v["signature"]}, body + b" "): bad.append("hex tampered " + v["name"])
    n += 2
for v in vectors["standard"]:
    h = {"webhook-id": v["id"], "webhook-timestamp": str(v["timestamp"]), "webhook-signature": v["signature"]}
    if verify_standard(v["secret"], h, v["body"].encode(), 300, v["now"]) != v["valid"]: bad.append("standard " + v["name"])
    n += 1
if bad:
    print("FAIL " + "; ".join(bad)); sys.exit(1)
print("ok %d" % n)
`

// The README's Node.js and Python snippets, exactly as printed, verify the
// golden vectors (and reject tampered bodies and replays).
func TestReadmeSnippetsAgainstVectors(t *testing.T) {
	vectors, err := filepath.Abs("../testdata/signature_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang, marker, interpreter, harness, file string
	}{
		{"js", "function verifyStandard", "node", nodeHarness, "verify.js"},
		{"python", "def verify_standard", "python3", pythonHarness, "verify.py"},
	} {
		t.Run(tc.interpreter, func(t *testing.T) {
			path, err := exec.LookPath(tc.interpreter)
			if err != nil {
				t.Fatalf("%s is needed to check the README snippet: %v", tc.interpreter, err)
			}
			script := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(script, []byte(readmeBlock(t, tc.lang, tc.marker)+"\n"+tc.harness), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(path, script, vectors).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ok ") {
				t.Fatalf("%s: %v\n%s", tc.interpreter, err, out)
			}
			t.Logf("%s: %s", tc.interpreter, strings.TrimSpace(string(out)))
		})
	}
}
