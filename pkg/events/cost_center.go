package events

// CostCenter is the data of a cost_center.v1 event (schemas/events/cost_center.v1.schema.json):
// a cost centre (InPost MPK) of an organization. Times are RFC 3339 UTC.
type CostCenter struct {
	SchemaVersion  string  `json:"schema_version"`
	ID             string  `json:"id"` // "<provider>:<source id>"
	Provider       string  `json:"provider"`
	SourceID       string  `json:"source_id"`
	OrganizationID string  `json:"organization_id"`
	Name           string  `json:"name"` // unique within the organization
	Description    string  `json:"description"`
	CreatedAt      string  `json:"created_at,omitempty"`
	UpdatedAt      string  `json:"updated_at,omitempty"`
	Lineage        Lineage `json:"lineage"`
}
