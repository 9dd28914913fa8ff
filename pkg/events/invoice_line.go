package events

// InvoiceLine is the data of an invoice_line.v1 event (schemas/events/invoice_line.v1.schema.json):
// one charged item that a provider exports on its own rather than inside its invoice (a Mews
// OrderItem, which names its bill by BillId). It is keyed by the item, not by the invoice, so
// an item that moves to another bill, or is cancelled, replaces its earlier version; the
// invoice's totals are summed from the current lines when they are queried (ClickHouse view
// invoice_totals). Money is decimal strings, never floats; times are RFC 3339 UTC.
type InvoiceLine struct {
	SchemaVersion string `json:"schema_version"`
	ID            string `json:"id"` // "<provider>:<source id>"
	Provider      string `json:"provider"`
	SourceID      string `json:"source_id"`
	// InvoiceID is the canonical id of the invoice.v1 the line is on ("<provider>:<bill id>");
	// empty while the item is on no invoice yet.
	InvoiceID string  `json:"invoice_id,omitempty"`
	Account   string  `json:"account"`
	Status    string  `json:"status,omitempty"` // the provider's accounting state (Mews: Open, Closed, Inactive, Canceled)
	Product   Product `json:"product"`
	Quantity  string  `json:"quantity,omitempty"`
	Unit      string  `json:"unit,omitempty"`
	UnitPrice string  `json:"unit_price,omitempty"`
	// Amount is the line's amount as the provider states it (Mews: the gross value, tax
	// included); NetAmount and GrossAmount are set where the provider tells them apart. A
	// negative amount is a rebate.
	Amount          string  `json:"amount"`
	NetAmount       string  `json:"net_amount,omitempty"`
	GrossAmount     string  `json:"gross_amount,omitempty"`
	Currency        string  `json:"currency"`
	Time            string  `json:"time,omitempty"` // when it was consumed
	SourceUpdatedAt string  `json:"source_updated_at,omitempty"`
	Lineage         Lineage `json:"lineage"`
}
