//go:build !unix

package main

import "errors"

func holdWriteLock(string) (func() error, error) {
	return nil, errors.New("holdlock write: unix only")
}
