package postgres

import (
	"errors"
	"io"
	"log/slog"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
