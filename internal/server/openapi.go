package server

import (
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/chathooks/chathooks/internal/chat"
	"github.com/chathooks/chathooks/internal/inbound"
)

// describe adds a route's operation to the OpenAPI document. The document's server is the
// API's prefix, so operations outside it name the root as their server.
func describe(doc *huma.OpenAPI, rt Route) {
	op := *rt.Doc
	op.Method, op.Path, _ = strings.Cut(rt.Pattern, " ")
	op.Servers = []*huma.Server{{URL: "/", Description: "the server root, outside the API prefix"}}
	if op.Security == nil {
		op.Security = []map[string][]string{} // no admin token
	}
	doc.AddOperation(&op)
}

// schemaOf is the schema of T, registered in the document's components.
func schemaOf[T any](doc *huma.OpenAPI) *huma.Schema {
	return doc.Components.Schemas.Schema(reflect.TypeFor[T](), true, "")
}

// lenientSchemaOf is schemaOf for a vendor's request body: fields it does not list are
// accepted (and ignored), as the vendor does.
func lenientSchemaOf[T any](doc *huma.OpenAPI) *huma.Schema {
	ref := schemaOf[T](doc)
	if s := doc.Components.Schemas.SchemaFromRef(ref.Ref); s != nil {
		s.AdditionalProperties = true
	}
	return ref
}

func jsonContent(s *huma.Schema) map[string]*huma.MediaType {
	return map[string]*huma.MediaType{"application/json": {Schema: s}}
}

func textContent(desc string) map[string]*huma.MediaType {
	return map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string", Description: desc}}}
}

func pathParam(name, desc string) *huma.Param {
	return &huma.Param{Name: name, In: "path", Required: true, Description: desc, Schema: &huma.Schema{Type: "string"}}
}

func queryParam(name, desc string, required bool) *huma.Param {
	return &huma.Param{Name: name, In: "query", Required: required, Description: desc, Schema: &huma.Schema{Type: "string"}}
}

var idempotencyKey = &huma.Param{Name: "Idempotency-Key", In: "header", Description: "a repeat within 24 h posts nothing again",
	Schema: &huma.Schema{Type: "string", MaxLength: ptr(256)}}

func ptr[T any](v T) *T { return &v }

// responses builds a response map: status -> (description, content).
func responses(rs ...any) map[string]*huma.Response {
	out := map[string]*huma.Response{}
	for i := 0; i+2 < len(rs); i += 3 {
		r := &huma.Response{Description: rs[i+1].(string)}
		if c, ok := rs[i+2].(map[string]*huma.MediaType); ok {
			r.Content = c
		}
		out[rs[i].(string)] = r
	}
	return out
}

const dialectTag = "incoming webhook dialects"

func healthDoc() *huma.Operation {
	return &huma.Operation{OperationID: "healthz", Summary: "Liveness: the process serves HTTP", Tags: []string{"operations"},
		Responses: responses("200", `{"status":"ok"}`, nil)}
}

func readyDoc() *huma.Operation {
	return &huma.Operation{OperationID: "readyz", Summary: "Readiness: the database answers and the server is not shutting down", Tags: []string{"operations"},
		Responses: responses("200", `{"status":"ok"}`, nil, "503", `{"status":"unavailable"|"shutting down"}`, nil)}
}

func metricsDoc() *huma.Operation {
	return &huma.Operation{OperationID: "metrics", Summary: "Prometheus metrics", Tags: []string{"operations"},
		Responses: responses("200", "Prometheus text exposition format", textContent("metrics"))}
}

func openAPIDoc() *huma.Operation {
	return &huma.Operation{OperationID: "openapi", Summary: "This OpenAPI 3.1 document", Tags: []string{"operations"},
		Responses: responses("200", "the document", map[string]*huma.MediaType{"application/vnd.oai.openapi+json;version=3.1": {Schema: &huma.Schema{Type: "object"}}})}
}

func chimeDoc(doc *huma.OpenAPI) *huma.Operation {
	errs := jsonContent(schemaOf[inbound.ChimeError](doc))
	return &huma.Operation{
		OperationID: "post-chime", Summary: "Post to a room as an Amazon Chime incoming webhook", Tags: []string{dialectTag},
		Description: "The `chime` URL of a webhook. Answers exactly as Chime does.",
		Parameters:  []*huma.Param{pathParam("id", "webhook id"), queryParam("token", "the webhook's token", true), idempotencyKey},
		RequestBody: &huma.RequestBody{Required: true, Content: jsonContent(lenientSchemaOf[inbound.ChimeBody](doc))},
		Responses: responses(
			"200", "posted", jsonContent(schemaOf[inbound.ChimeOK](doc)),
			"400", "BadRequest: not a JSON object with a Content string, or empty", errs,
			"403", "Forbidden: unknown webhook or wrong token", errs,
			"404", "NotFound: the webhook was regenerated or deleted, or its room deleted", errs,
			"413", "ResourceLimitExceeded: Content over 4 KB or body over 1 MiB", errs,
			"429", "Throttled: over the room's rate (Retry-After)", errs,
			"503", "ServiceUnavailable: shutting down or the database is unavailable", errs,
		),
	}
}

func googleChatDoc(doc *huma.OpenAPI) *huma.Operation {
	errs := jsonContent(schemaOf[inbound.GoogleChatError](doc))
	return &huma.Operation{
		OperationID: "post-google-chat", Summary: "Post to a room as a Google Chat incoming webhook", Tags: []string{dialectTag},
		Description: "The `google_chat` URL of a webhook. Answers exactly as Google Chat does.",
		Parameters: []*huma.Param{
			pathParam("space", "the room id"), queryParam("key", "the webhook id", true), queryParam("token", "the webhook's token", true),
			queryParam("threadKey", "post in the thread of this key (legacy form of thread.threadKey)", false),
			{Name: "messageReplyOption", In: "query", Description: "how thread.threadKey / thread.name are used",
				Schema: &huma.Schema{Type: "string", Enum: []any{"MESSAGE_REPLY_OPTION_UNSPECIFIED", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "REPLY_MESSAGE_OR_FAIL"}}},
			queryParam("requestId", "idempotency key of the post", false), idempotencyKey,
		},
		RequestBody: &huma.RequestBody{Required: true, Content: jsonContent(lenientSchemaOf[inbound.GoogleChatBody](doc))},
		Responses: responses(
			"200", "the created message", jsonContent(schemaOf[inbound.GoogleChatOK](doc)),
			"400", "INVALID_ARGUMENT: malformed body, no text or cards, or too large", errs,
			"401", "UNAUTHENTICATED: wrong or missing token", errs,
			"404", "NOT_FOUND: unknown, regenerated or deleted webhook, another space, or a missing thread", errs,
			"429", "RESOURCE_EXHAUSTED: over the room's rate (Retry-After)", errs,
			"503", "UNAVAILABLE: shutting down or the database is unavailable", errs,
		),
	}
}

func slackDoc(doc *huma.OpenAPI) *huma.Operation {
	lenientSchemaOf[inbound.Attachment](doc)
	return &huma.Operation{
		OperationID: "post-slack", Summary: "Post to a room as a Slack incoming webhook", Tags: []string{dialectTag},
		Description: "The `slack` URL of a webhook. The body is JSON, or a form with `payload=<JSON>`. Answers exactly as Slack does: plain-text bodies.",
		Parameters:  []*huma.Param{pathParam("room", "the room id"), pathParam("id", "the webhook id"), pathParam("token", "the webhook's token"), idempotencyKey},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json":                  {Schema: lenientSchemaOf[inbound.SlackBody](doc)},
			"application/x-www-form-urlencoded": {Schema: &huma.Schema{Type: "object", Properties: map[string]*huma.Schema{"payload": {Type: "string", Description: "the JSON body"}}}},
		}},
		Responses: responses(
			"200", "ok", textContent("ok"),
			"400", "invalid_payload, invalid_blocks, no_text or too_many_attachments", textContent("error"),
			"403", "invalid_token: unknown webhook or wrong token", textContent("invalid_token"),
			"404", "no_service (regenerated or deleted webhook) or channel_not_found", textContent("error"),
			"429", "rate_limited (Retry-After)", textContent("rate_limited"),
			"503", "service_unavailable", textContent("service_unavailable"),
		),
	}
}

func mattermostDoc(doc *huma.OpenAPI) *huma.Operation {
	errs := jsonContent(schemaOf[inbound.AppError](doc))
	return &huma.Operation{
		OperationID: "post-mattermost", Summary: "Post to a room as a Mattermost incoming webhook", Tags: []string{dialectTag},
		Description: "The `mattermost` URL of a webhook. The body is JSON, a form with `payload=<JSON>`, or multipart fields. " +
			"Text over 16,383 characters becomes several posts. Errors are Mattermost AppError bodies.",
		Parameters: []*huma.Param{pathParam("token", "the webhook's token"), idempotencyKey},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json":                  {Schema: lenientSchemaOf[inbound.MattermostBody](doc)},
			"application/x-www-form-urlencoded": {Schema: &huma.Schema{Type: "object", Properties: map[string]*huma.Schema{"payload": {Type: "string", Description: "the JSON body"}}}},
			"multipart/form-data":               {Schema: lenientSchemaOf[inbound.MattermostBody](doc)},
		}},
		Responses: responses(
			"200", "ok", textContent("ok"),
			"400", "web.incoming_webhook.parse.app_error, web.incoming_webhook.text.app_error, or web.incoming_webhook.invalid.app_error (unknown hook or wrong token)", errs,
			"404", "web.incoming_webhook.invalid.app_error (regenerated or deleted) or app.channel.get.existing.app_error (room deleted)", errs,
			"413", "api.context.request_body_too_large.app_error", errs,
			"429", "api.context.rate_limit_exceeded.app_error (Retry-After)", errs,
			"503", "api.context.unavailable.app_error", errs,
		),
	}
}

// sendbirdError is Sendbird's error body.
type sendbirdError struct {
	Error   bool   `json:"error"`
	Message string `json:"message"`
	Code    int    `json:"code" doc:"400100 bad body, 400401 bad Api-Token, 500503 unavailable"`
}

// sendbirdSettings is the answer of Sendbird's settings API.
type sendbirdSettings struct {
	Webhook              chat.SendbirdWebhook `json:"webhook"`
	AllWebhookCategories []string             `json:"all_webhook_categories,omitempty" doc:"with display_all_webhook_categories=true"`
}

func sendbirdDoc(doc *huma.OpenAPI, id, summary string) *huma.Operation {
	if doc.Components.SecuritySchemes == nil {
		doc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	doc.Components.SecuritySchemes["sendbirdApiToken"] = &huma.SecurityScheme{Type: "apiKey", In: "header", Name: "Api-Token", Description: "The admin token, as Sendbird's Api-Token header."}
	errs := jsonContent(schemaOf[sendbirdError](doc))
	return &huma.Operation{
		OperationID: id, Summary: summary, Tags: []string{"sendbird settings"},
		Description: "Sendbird's webhook settings API: one endpoint in the `sendbird` format, configured as Sendbird's dashboard does. Authenticated with `Api-Token: <admin token>`.",
		Security:    []map[string][]string{{"sendbirdApiToken": {}}},
		Parameters: []*huma.Param{
			{Name: "Api-Token", In: "header", Required: true, Description: "the admin token", Schema: &huma.Schema{Type: "string"}},
			{Name: "display_all_webhook_categories", In: "query", Description: "also list every event category", Schema: &huma.Schema{Type: "boolean"}},
		},
		Responses: responses(
			"200", "the settings", jsonContent(schemaOf[sendbirdSettings](doc)),
			"400", "the body is not valid JSON, or a setting is invalid", errs,
			"401", "missing or wrong Api-Token", errs,
			"503", "the database or outgoing webhooks are unavailable", errs,
		),
	}
}

func sendbirdGetDoc(doc *huma.OpenAPI) *huma.Operation {
	return sendbirdDoc(doc, "get-sendbird-webhook-settings", "Sendbird: read the webhook settings")
}

func sendbirdPutDoc(doc *huma.OpenAPI) *huma.Operation {
	op := sendbirdDoc(doc, "put-sendbird-webhook-settings", "Sendbird: change the webhook settings (absent fields stay)")
	op.RequestBody = &huma.RequestBody{Content: jsonContent(schemaOf[chat.SendbirdWebhookPatch](doc))}
	return op
}
