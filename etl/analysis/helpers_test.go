package analysis

import (
	"errors"
	"os"
	"testing"
)

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

func TestMain(m *testing.M) {
	code := m.Run()
	if simDir != "" {
		os.RemoveAll(simDir)
	}
	os.Exit(code)
}
