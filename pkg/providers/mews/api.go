package mews

import "encoding/json"

// Paths of the export operations below the platform address.
const (
	pathAddExport  = "/api/connector/v1/exports/add"
	pathGetExports = "/api/connector/v1/exports/getAll"
)

// Export statuses (the seed's "Export status").
const (
	StatusPending    = "Pending"
	StatusProcessing = "Processing"
	StatusSuccess    = "Success"
	StatusFailed     = "Failed"
	StatusExpired    = "Expired"
)

// Credentials open every request body: the seed requires all three on every operation.
type Credentials struct {
	ClientToken string `json:"ClientToken"`
	AccessToken string `json:"AccessToken"`
	Client      string `json:"Client"`
}

// AddExportRequest is the body of exports/add.
type AddExportRequest struct {
	Credentials
	EntityType string           `json:"EntityType"`
	Scope      *ScopeParameters `json:"Scope,omitempty"`
	Filters    *Filters         `json:"Filters,omitempty"`
}

// ScopeParameters is the Scope of exports/add ("Export scope parameters"): a list left empty
// is omitted, as in the seed's example.
type ScopeParameters struct {
	EnterpriseIDs []string `json:"EnterpriseIds,omitempty"`
	ChainIDs      []string `json:"ChainIds,omitempty"`
}

// GetExportsRequest is the body of exports/getAll. ExportIds empty asks for every export of the
// client (the reading chosen in the package doc).
type GetExportsRequest struct {
	Credentials
	ExportIDs []string `json:"ExportIds,omitempty"`
}

// AddExportResponse is the answer of exports/add.
type AddExportResponse struct {
	Export Export `json:"Export"`
}

// GetExportsResponse is the answer of exports/getAll.
type GetExportsResponse struct {
	Exports []Export `json:"Exports"`
}

// Export is one export as the seed documents it.
type Export struct {
	ID         string   `json:"Id"`
	Status     string   `json:"Status"`
	EntityType string   `json:"EntityType"`
	Scope      *Scope   `json:"Scope"`
	Files      []File   `json:"Files"`
	ExpiresUtc *string  `json:"ExpiresUtc"`
	Filters    *Filters `json:"Filters"`
}

// Scope selects enterprises or chains; nil lists are sent as null (as the seed's responses show)
// and mean "every one the token reaches".
type Scope struct {
	EnterpriseIDs []string `json:"EnterpriseIds"`
	ChainIDs      []string `json:"ChainIds"`
}

// File is one export file entry: a JSON Lines file whose URL is valid for 10 minutes after the
// response that carried it.
type File struct {
	URL         string `json:"Url"`
	SizeInBytes int64  `json:"SizeInBytes"`
}

// Filters are the export data filters.
type Filters struct {
	UpdatedUtc *Interval `json:"UpdatedUtc,omitempty"`
}

// Interval is an UTC interval in ISO 8601 ("2020-11-04T00:00:00Z").
type Interval struct {
	StartUtc string `json:"StartUtc"`
	EndUtc   string `json:"EndUtc"`
}

// ErrorBody is the body of a refused request: Mews's ConnectorApiExceptionResult.
type ErrorBody struct {
	Message   string          `json:"Message"`
	RequestID string          `json:"RequestId,omitempty"`
	Details   json.RawMessage `json:"Details,omitempty"`
}

// Bill is the part of an exported Bill entity the mapping reads, with Mews's field names (the
// seed does not show entities; these are the Connector API's Bill fields). Nullable fields
// decode null as "".
type Bill struct {
	ID              string `json:"Id"`
	Name            string `json:"Name"`
	EnterpriseID    string `json:"EnterpriseId"`
	AccountID       string `json:"AccountId"`
	AccountType     string `json:"AccountType"` // Customer or Company
	CustomerID      string `json:"CustomerId"`  // deprecated by Mews, still sent
	CompanyID       string `json:"CompanyId"`   // deprecated by Mews, still sent
	State           string `json:"State"`       // Open or Closed
	Type            string `json:"Type"`        // Receipt or Invoice
	Number          string `json:"Number"`
	CreatedUtc      string `json:"CreatedUtc"`
	IssuedUtc       string `json:"IssuedUtc"`
	DueUtc          string `json:"DueUtc"`
	PaidUtc         string `json:"PaidUtc"`
	UpdatedUtc      string `json:"UpdatedUtc"`
	CorrectionState string `json:"CorrectionState"`
	// Amount is the bill's own total, when it carries one (not every Bill does).
	Amount *ExtendedAmount `json:"Amount"`
	// Revenue is deprecated by Mews ("use orderItems/getAll with BillId"): current bills may
	// carry none, their money then being in the OrderItem export.
	Revenue []AccountingItem `json:"Revenue"`
}

// OrderItem is the part of an exported OrderItem entity the mapping reads, with the Connector
// API's field names: an item consumed (a night, a product, a fee) and, once billed, the bill it
// is on (BillId). Nullable fields decode null as "".
type OrderItem struct {
	ID              string          `json:"Id"`
	EnterpriseID    string          `json:"EnterpriseId"`
	AccountID       string          `json:"AccountId"`
	AccountType     string          `json:"AccountType"`
	ServiceID       string          `json:"ServiceId"`
	BillID          string          `json:"BillId"`
	BillingName     string          `json:"BillingName"`
	UnitCount       json.Number     `json:"UnitCount"`
	UnitAmount      *ExtendedAmount `json:"UnitAmount"`
	Amount          *ExtendedAmount `json:"Amount"`          // negative for a rebate or payment
	RevenueType     string          `json:"RevenueType"`     // Service, Product, Additional
	Type            string          `json:"Type"`            // SpaceOrder, ProductOrder, CityTax …
	AccountingState string          `json:"AccountingState"` // Open, Closed, Inactive, Canceled
	ConsumedUtc     string          `json:"ConsumedUtc"`
	ClosedUtc       string          `json:"ClosedUtc"`
	CanceledUtc     string          `json:"CanceledUtc"`
	CreatedUtc      string          `json:"CreatedUtc"`
	UpdatedUtc      string          `json:"UpdatedUtc"`
}

// AccountingItem is one revenue item of a bill.
type AccountingItem struct {
	ID             string          `json:"Id"`
	Type           string          `json:"Type"`
	SubType        string          `json:"SubType"`
	Name           string          `json:"Name"`
	ConsumptionUtc string          `json:"ConsumptionUtc"`
	Amount         *ExtendedAmount `json:"Amount"`
}

// ExtendedAmount is an amount with and without tax. Numbers are json.Number so no cent is
// rounded through a float.
type ExtendedAmount struct {
	Currency   string      `json:"Currency"`
	NetValue   json.Number `json:"NetValue"`
	GrossValue json.Number `json:"GrossValue"`
	TaxValues  []TaxValue  `json:"TaxValues"`
}

// TaxValue is one tax applied to an amount.
type TaxValue struct {
	Code  string      `json:"Code"`
	Value json.Number `json:"Value"`
}
