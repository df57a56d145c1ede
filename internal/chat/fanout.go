package chat

// DeliveryTx holds the outgoing-delivery writes (issue 4).
type DeliveryTx interface{}

// DeliveryReader holds the outgoing-delivery reads (issue 4).
type DeliveryReader interface{}

// fanOut turns a just-appended event into delivery rows for the endpoints it matches, in
// the same transaction (issue 4 fills this in).
func (s *Service) fanOut(tx Tx, e *Event) error { return nil }
