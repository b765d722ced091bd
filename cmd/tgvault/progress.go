package main

import (
	"github.com/schollz/progressbar/v3"
)

// progress is a progress bar on stderr, or nothing: it shows only when
// stderr is a terminal, without --json, for more than one item, so piped
// and scripted runs stay quiet. The methods are no-ops on nil.
type progress struct{ bar *progressbar.ProgressBar }

func (a *app) progress(n int, desc string) *progress {
	if n < 2 || a.json || !isTerminal(a.stderr) {
		return nil
	}
	return &progress{progressbar.NewOptions(n,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000), // 100 ms
		progressbar.OptionClearOnFinish(),
		progressbar.OptionEnableColorCodes(a.color(a.stderr)),
		progressbar.OptionUseANSICodes(true),
	)}
}

func (p *progress) add(n int) {
	if p != nil {
		_ = p.bar.Add(n)
	}
}

// clear removes the bar from the line so that a message can be printed.
func (p *progress) clear() {
	if p != nil {
		_ = p.bar.Clear()
	}
}

func (p *progress) finish() {
	if p != nil {
		_ = p.bar.Finish()
	}
}
