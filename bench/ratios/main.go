// Command ratios reads what bench/run.sh measured, the output of the
// storage benchmarks (go test -bench, any -count) and the JSON lines of
// bench/telethon_storage.py, and prints every figure the targets in
// docs/benchmarks.md are stated in, as medians over the runs, with the
// ratio each target is checked by and whether it is met.
//
//	go run ./bench/ratios -go storage.txt -telethon telethon.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	goOut := flag.String("go", "", "the output of the storage benchmarks (required)")
	telethon := flag.String("telethon", "", "the JSON lines of bench/telethon_storage.py (optional)")
	flag.Parse()
	if *goOut == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Open(*goOut)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	res := parseBench(f)
	f.Close()
	var tt []map[string]any
	if *telethon != "" {
		if tt, err = parseJSONLines(*telethon); err != nil {
			fmt.Fprintln(os.Stderr, "ratios:", err)
			os.Exit(1)
		}
	}
	report(os.Stdout, res, tt)
}

// results holds every value of every metric of every benchmark, by name
// (without the -GOMAXPROCS suffix) and unit.
type results map[string]map[string][]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parseBench(r io.Reader) results {
	res := results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][fields[i+1]] = append(res[m[1]][fields[i+1]], v)
		}
	}
	return res
}

func parseJSONLines(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// get returns the median of a benchmark's metric and the range as text.
func (r results) get(name, unit string) (float64, string, bool) {
	return r.scaled(name, unit, 1)
}

// scaled is get with the values divided by div (ns/op as ms: 1e6).
func (r results) scaled(name, unit string, div float64) (float64, string, bool) {
	v := slices.Clone(r[name][unit])
	for i := range v {
		v[i] /= div
	}
	m, ok := median(v)
	if !ok {
		return 0, "", false
	}
	lo, hi := slices.Min(v), slices.Max(v)
	rng := ""
	if len(v) > 1 {
		rng = fmt.Sprintf(" (%s–%s over %d runs)", num(lo), num(hi), len(v))
	}
	return m, rng, true
}

// telethon returns the median of a number in the Telethon runs; detail
// keys are looked up in "detail".
func telethon(tt []map[string]any, key string) (float64, bool) {
	var v []float64
	for _, m := range tt {
		x, ok := m[key].(float64)
		if !ok {
			if d, _ := m["detail"].(map[string]any); d != nil {
				x, ok = d[key].(float64)
			}
		}
		if ok {
			v = append(v, x)
		}
	}
	return median(v)
}

func num(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

// report prints the medians of the runs and their ratios to the
// yardsticks, a section per benchmark family, against the targets of
// docs/benchmarks.md.
//
// Long: one printed section after another, in the order docs/benchmarks.md
// has them; a command's report, not a rule.
func report(w io.Writer, r results, tt []map[string]any) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("Medians of the runs in this invocation; targets from docs/benchmarks.md.")
	p("")
	p("Lookups, 100,000 peers, InputPeer built (target <= 250 ns random):")
	for _, l := range []struct{ name, tkey string }{
		{"BenchmarkPeerByID", "by_id_us"},
		{"BenchmarkPeerByUsername", "by_username_us"},
		{"BenchmarkPeerByPhone", "by_phone_us"},
	} {
		rnd, rr, ok := r.get(l.name+"/random", "ns/lookup")
		if !ok {
			p("  %s: not measured", l.name)
			continue
		}
		line := fmt.Sprintf("  %s/random: %s ns%s", l.name, num(rnd), rr)
		if cpu, _, ok := r.get(l.name+"/random", "cpu-ns/lookup"); ok {
			line += fmt.Sprintf(", %s ns of CPU", num(cpu))
		}
		line += " — " + met(rnd <= 250)
		if seq, _, ok := r.get(l.name+"/sequential", "ns/lookup"); ok {
			line += fmt.Sprintf("; sequential %s ns", num(seq))
		}
		if us, ok := telethon(tt, l.tkey); ok {
			line += fmt.Sprintf("; Telethon %s µs = %s× tgvault's random", num(us), num(us*1000/rnd))
		}
		p("%s", line)
	}
	p("")
	limit, lr, okLimit := r.get("BenchmarkPhysicalLimit", "ms/save")
	if okLimit {
		p("Physical limit (seal + temp file + fsync + rename + dir fsync of the 100,000-peer image): %s ms%s", num(limit), lr)
	}
	for _, sv := range []struct{ name, what string }{
		{"BenchmarkUpdateAndSaveSealed/100-changed", "Save after 100 changed peers (100,000-peer store)"},
		{"BenchmarkSaveSealed", "Save with no peer change (100,000-peer store)"},
	} {
		v, rr, ok := r.get(sv.name, "ms/save")
		if !ok {
			continue
		}
		line := fmt.Sprintf("%s: %s ms%s", sv.what, num(v), rr)
		if x, xr, ok := r.get(sv.name, "x-limit"); ok {
			l, _, _ := r.get(sv.name, "ms/limit")
			line += fmt.Sprintf(" = %s× the limit measured in the same loop (%s ms)%s", num(x), num(l), xr)
			if sv.name == "BenchmarkUpdateAndSaveSealed/100-changed" {
				line += fmt.Sprintf(" (target <= 2) — %s", met(x <= 2))
			}
		}
		if pp, _, ok := r.get(sv.name, "patched/save"); ok {
			line += fmt.Sprintf("; %s of the saves patched", num(pp))
		}
		p("%s", line)
	}
	if v, rr, ok := r.get("BenchmarkUpdateAndSaveSealed/100k-new", "ms/100k-peers"); ok {
		line := fmt.Sprintf("100,000 new peers updated and durably saved: %s ms%s (target <= 100) — %s", num(v), rr, met(v <= 100))
		if cpu, _, ok := r.get("BenchmarkUpdateAndSaveSealed/100k-new", "cpu-ms/100k-peers"); ok {
			line += fmt.Sprintf("; %s ms of CPU", num(cpu))
		}
		if s, ok := telethon(tt, "store_100k_s"); ok {
			line += fmt.Sprintf("; Telethon (not encrypted, one commit) %s ms = %s× tgvault", num(s*1000), num(s*1000/v))
		}
		p("%s", line)
	}
	if v, rr, ok := r.get("BenchmarkUpdatePeersDurable", "ms/100k-peers"); ok {
		p("100,000 peers in batches of 100, durable every 1,000 (100 saves): %s ms%s", num(v), rr)
	}
	if v, rr, ok := r.get("BenchmarkUpdatePeersInMemory", "ns/peer"); ok {
		line := fmt.Sprintf("UpdatePeers into the in-memory index only: %s ns/peer%s = %s M peers/s", num(v), rr, num(1e3/v))
		if s, ok := telethon(tt, "process_entities_100k_s"); ok {
			line += fmt.Sprintf("; Telethon's process_entities (no commit) %s ns/peer", num(s*1e9/100000))
		}
		p("%s", line)
	}
	if v, rr, ok := r.scaled("BenchmarkEncodeImage", "ns/op", 1e6); ok {
		line := fmt.Sprintf("Full image build (100,000 peers): %s ms%s", num(v), rr)
		if cpu, _, ok := r.get("BenchmarkEncodeImage", "cpu-ms/op"); ok {
			line += fmt.Sprintf(", %s ms of CPU", num(cpu))
		}
		p("%s", line)
	}
	raw, rawr, okRaw := r.get("BenchmarkRawChaCha20Poly1305", "MB/s")
	if okRaw {
		p("Raw ChaCha20-Poly1305, fresh output buffer: %s MB/s%s", num(raw), rawr)
	}
	if v, rr, ok := r.get("BenchmarkOpenSealed/head", "MB/s"); ok && okRaw {
		p("Open (read + decrypt + binding + session row): %s MB/s%s = %s %% of raw", num(v), rr, num(100*v/raw))
	}
	if v, rr, ok := r.get("BenchmarkPhysicalLimit", "MB/s"); ok && okRaw {
		p("Physical limit as throughput: %s MB/s%s = %s %% of raw", num(v), rr, num(100*v/raw))
	}
}
