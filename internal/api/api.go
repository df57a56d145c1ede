// Package api is the management and chat REST API under /api/v1: thin handlers
// that decode, call chat.Service and encode. The OpenAPI 3.1 description is generated from
// these registrations, so it cannot drift from the code.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/chathooks/chathooks/internal/chat"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// ErrorBody is the error shape of every API answer that fails.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code" example:"not_found"`
	Message string `json:"message" example:"room \"r1\" not found"`
}

// apiError is a huma.StatusError rendering as ErrorBody.
type apiError struct {
	ErrorBody
	status     int
	retryAfter int
}

func (e *apiError) Error() string  { return e.ErrorBody.Error.Message }
func (e *apiError) GetStatus() int { return e.status }

// Headers adds Retry-After to rate-limit errors (huma.HeadersError).
func (e *apiError) GetHeaders() http.Header {
	if e.retryAfter > 0 {
		return http.Header{"Retry-After": {fmt.Sprint(e.retryAfter)}}
	}
	return nil
}

// codeStatus is the one table of error codes and HTTP statuses. The first code listed for a
// status is the one huma's own errors of that status get.
var codeStatus = []struct {
	code   chat.Code
	status int
}{
	{chat.CodeInvalidArgument, http.StatusBadRequest},
	{chat.CodeUnauthenticated, http.StatusUnauthorized},
	{chat.CodePermissionDenied, http.StatusForbidden},
	{chat.CodeNotFound, http.StatusNotFound},
	{chat.CodeGone, http.StatusNotFound},
	{chat.CodeAlreadyExists, http.StatusConflict},
	{chat.CodeLimitExceeded, http.StatusConflict},
	{chat.CodeFailedPrecond, http.StatusConflict},
	{chat.CodeTooLarge, http.StatusRequestEntityTooLarge},
	{chat.CodeRateLimited, http.StatusTooManyRequests},
	{chat.CodeUnavailable, http.StatusServiceUnavailable},
}

// Status maps an error code to its HTTP status (500 for internal and unknown codes).
func Status(code chat.Code) int {
	for _, cs := range codeStatus {
		if cs.code == code {
			return cs.status
		}
	}
	return http.StatusInternalServerError
}

// codeForStatus maps a status of huma's own errors to an error code (422 is a 400 here).
func codeForStatus(status int) chat.Code {
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	for _, cs := range codeStatus {
		if cs.status == status {
			return cs.code
		}
	}
	return chat.CodeInternal
}

// NewError builds an error response body for a code and message.
func NewError(code chat.Code, msg string) *apiError {
	return &apiError{ErrorBody: ErrorBody{Error: ErrorDetail{Code: string(code), Message: msg}}, status: Status(code)}
}

var setErrorsOnce sync.Once

// installErrorModel makes huma's own errors (bad JSON, validation, body too large) use
// our error body. huma exposes this hook only as a package variable.
func installErrorModel() {
	setErrorsOnce.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			if status == http.StatusUnprocessableEntity {
				status = http.StatusBadRequest
			}
			var parts []string
			for _, e := range errs {
				if e == nil {
					continue
				}
				var d *huma.ErrorDetail
				if errors.As(e, &d) && d.Location != "" {
					if d.Location == "body" && (strings.Contains(d.Message, "JSON") || strings.Contains(d.Message, "invalid character")) {
						msg = "invalid JSON body"
						parts = append(parts, d.Message)
						continue
					}
					parts = append(parts, fmt.Sprintf("%s: %s", d.Location, d.Message))
				} else {
					parts = append(parts, e.Error())
				}
			}
			if len(parts) > 0 {
				msg = strings.TrimSuffix(msg, ".") + ": " + strings.Join(parts, "; ")
			}
			if status == http.StatusRequestEntityTooLarge {
				msg = fmt.Sprintf("request body is larger than %d bytes", chat.MaxBodyBytes)
			}
			code := codeForStatus(status)
			e := NewError(code, msg)
			e.status = status
			return e
		}
	})
}

// Handlers holds what the handlers need.
type Handlers struct {
	svc *chat.Service
	sub Subscriber
	log *slog.Logger
}

// New registers every /api/v1 operation on mux (paths include the prefix) and returns the
// huma API (for its OpenAPI document).
func New(mux *http.ServeMux, svc *chat.Service, sub Subscriber, log *slog.Logger, version string, extra ...func(huma.API)) huma.API {
	installErrorModel()
	cfg := huma.DefaultConfig("chathooks", version)
	cfg.OpenAPIPath, cfg.DocsPath, cfg.SchemasPath = "", "", ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "Management and chat API of chathooks. Authenticate with `Authorization: Bearer <admin token>`."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "The admin token."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	api := humago.NewWithPrefix(mux, Prefix, cfg)
	h := &Handlers{svc: svc, sub: sub, log: log}
	h.registerUsers(api)
	h.registerRooms(api)
	h.registerMessages(api)
	h.registerStream(api)
	h.registerSettings(api)
	for _, fn := range extra {
		fn(api)
	}
	return api
}

// Fail converts a service error to the API error response, logging internal errors.
func Fail(ctx context.Context, log *slog.Logger, err error) error {
	var ce *chat.Error
	if errors.As(err, &ce) {
		e := NewError(ce.Code, ce.Message)
		if ce.RetryAfter > 0 {
			e.retryAfter = int((ce.RetryAfter + 999_999_999) / 1_000_000_000)
		}
		if ce.Code == chat.CodeInternal || ce.Code == chat.CodeUnavailable {
			log.ErrorContext(ctx, "request failed", slog.Any("error", err))
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return NewError(chat.CodeUnavailable, "the request was cancelled or timed out")
	}
	log.ErrorContext(ctx, "request failed", slog.Any("error", err))
	return NewError(chat.CodeInternal, "internal error")
}

func (h *Handlers) fail(ctx context.Context, err error) error { return Fail(ctx, h.log, err) }

// List is the envelope of every list the API answers.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// out wraps a response body.
type out[T any] struct{ Body T }

// PageQuery are the common list parameters.
type PageQuery struct {
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"0" maximum:"200" doc:"page size (default 50, at most 200)"`
}

func page[T any](items []T, limit int, cursor func(T) string) *out[List[T]] {
	l := List[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if limit <= 0 {
		limit = chat.DefaultPage
	}
	if len(items) > 0 && len(items) >= min(limit, chat.MaxPage) {
		l.NextCursor = cursor(items[len(items)-1])
	}
	return &out[List[T]]{Body: l}
}

// Op returns an operation with the defaults every route shares.
func Op(id, method, path, summary string, tags ...string) huma.Operation {
	return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Tags: tags, MaxBodyBytes: chat.MaxBodyBytes}
}

// Created returns op answering 201.
func Created(op huma.Operation) huma.Operation { op.DefaultStatus = http.StatusCreated; return op }

// NoContent returns op answering 204.
func NoContent(op huma.Operation) huma.Operation { op.DefaultStatus = http.StatusNoContent; return op }
