//go:build !unix

package main

import "os"

// sigTERM is not sent where there is no SIGTERM: the scripts that use it
// run on unix only.
var sigTERM = os.Kill
