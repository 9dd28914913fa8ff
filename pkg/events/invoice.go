package events

// Invoice is the data of an invoice.v1 event (schemas/events/invoice.v1.schema.json): a bill a
// provider issued, with the charging sessions it covers. Money is decimal strings, never floats;
// times are RFC 3339 UTC.
type Invoice struct {
	SchemaVersion string `json:"schema_version"`
	ID            string `json:"id"` // "<provider>:<source id>"
	Provider      string `json:"provider"`
	SourceID      string `json:"source_id"`
	// Account is the customer or account the invoice is addressed to (the poll scope).
	Account     string `json:"account"`
	IssuedAt    string `json:"issued_at,omitempty"`
	PeriodStart string `json:"period_start,omitempty"`
	PeriodEnd   string `json:"period_end,omitempty"`
	Status      string `json:"status,omitempty"`
	// TotalAmount is the total as the provider states it; TotalNet and TotalGross are set where the
	// provider tells them apart.
	TotalAmount string     `json:"total_amount,omitempty"`
	TotalNet    string     `json:"total_net,omitempty"`
	TotalGross  string     `json:"total_gross,omitempty"`
	Currency    string     `json:"currency,omitempty"`
	LineItems   []LineItem `json:"line_items"`
	// SessionIDs are the canonical ids of the charging sessions the invoice covers (Plugsurfing
	// external-session-ids), never nil: an invoice covering none carries [].
	SessionIDs      []string `json:"session_ids"`
	DocumentURL     string   `json:"document_url,omitempty"` // the invoice PDF
	SourceUpdatedAt string   `json:"source_updated_at,omitempty"`
	Lineage         Lineage  `json:"lineage"`
}
