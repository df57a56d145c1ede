package chat

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, snake_case error code; each maps to one HTTP status in the API layer.
type Code string

// Error codes of the management and chat API.
const (
	CodeInvalidArgument  Code = "invalid_argument"    // 400
	CodeUnauthenticated  Code = "unauthenticated"     // 401
	CodePermissionDenied Code = "permission_denied"   // 403
	CodeNotFound         Code = "not_found"           // 404
	CodeAlreadyExists    Code = "already_exists"      // 409
	CodeLimitExceeded    Code = "limit_exceeded"      // 409
	CodeTooLarge         Code = "payload_too_large"   // 413
	CodeRateLimited      Code = "rate_limited"        // 429
	CodeUnavailable      Code = "unavailable"         // 503
	CodeInternal         Code = "internal"            // 500
	CodeGone             Code = "gone"                // 404 for revoked things, told apart from never-valid ones
	CodeFailedPrecond    Code = "failed_precondition" // 409
)

// Error is a domain error with a code and a message safe to show to the caller.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration // for CodeRateLimited / CodeUnavailable
	Err        error         // wrapped cause, never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }

// ErrorMessage returns the caller-safe message of err: the *Error message, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
