package events

// ChargingSession is the data of a charging_session.v1 event
// (schemas/events/charging_session.v1.schema.json). Field names follow OCPI 2.2.1 where it has
// one. Money and quantities are decimal strings, never floats; times are RFC 3339 UTC.
type ChargingSession struct {
	SchemaVersion   string     `json:"schema_version"`
	ID              string     `json:"id"` // "<provider>:<source id>"
	Provider        string     `json:"provider"`
	SourceID        string     `json:"source_id"`
	Account         string     `json:"account"`
	Status          string     `json:"status"`
	StartedAt       string     `json:"started_at,omitempty"`
	EndedAt         string     `json:"ended_at,omitempty"`
	DurationSeconds *int64     `json:"duration_seconds,omitempty"`
	Location        *Location  `json:"location,omitempty"`
	Token           *Token     `json:"token,omitempty"`
	VehicleID       string     `json:"vehicle_id,omitempty"`
	Quantity        string     `json:"quantity,omitempty"`
	Unit            string     `json:"unit,omitempty"`
	EnergyKWh       string     `json:"energy_kwh,omitempty"`
	Product         *Product   `json:"product,omitempty"`
	LineItems       []LineItem `json:"line_items"`
	TotalAmount     string     `json:"total_amount,omitempty"`
	Currency        string     `json:"currency,omitempty"`
	InvoiceRef      string     `json:"invoice_ref,omitempty"`
	CostCenterRef   string     `json:"cost_center_ref,omitempty"`
	SourceUpdatedAt string     `json:"source_updated_at,omitempty"`
	Lineage         Lineage    `json:"lineage"`
}

// Location is where a session took place.
type Location struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Address     string   `json:"address,omitempty"`
	PostalCode  string   `json:"postal_code,omitempty"`
	City        string   `json:"city,omitempty"`
	CountryCode string   `json:"country_code,omitempty"`
	Latitude    *float64 `json:"latitude,omitempty"`
	Longitude   *float64 `json:"longitude,omitempty"`
	Operator    string   `json:"operator,omitempty"`
	StoreNumber string   `json:"store_number,omitempty"`
	TimeZone    string   `json:"time_zone,omitempty"`
}

// Token identifies who or what was authorised for the session.
type Token struct {
	Type  string `json:"type"` // rfid, evco-id, vehicle, username …
	Value string `json:"value"`
}

// Product classifies what was delivered.
type Product struct {
	Category string `json:"category,omitempty"`
	Family   string `json:"family,omitempty"`
	Code     string `json:"code,omitempty"`
}

// LineItem is one priced part of a session (a Be-Mo transaction).
type LineItem struct {
	Product   Product `json:"product"`
	Quantity  string  `json:"quantity,omitempty"`
	Unit      string  `json:"unit,omitempty"`
	UnitPrice string  `json:"unit_price,omitempty"`
	Amount    string  `json:"amount"`
	Currency  string  `json:"currency"`
	Time      string  `json:"time,omitempty"`
}
