package chat

// WebhookTx holds the incoming-webhook writes (issue 3).
type WebhookTx interface{}

// WebhookReader holds the incoming-webhook reads (issue 3).
type WebhookReader interface{}
