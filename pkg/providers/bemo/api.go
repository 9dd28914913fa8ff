package bemo

import "encoding/json"

// Envelope is the body of every Be-Mo response, successful or not. Data holds each session's
// JSON exactly as sent, so unknown fields survive into the RAW stream.
type Envelope struct {
	Status  string            `json:"status"` // StatusSuccess or StatusError
	Errors  []ErrorItem       `json:"errors"`
	Data    []json.RawMessage `json:"data"`
	Trace   json.RawMessage   `json:"trace,omitempty"`
	Version string            `json:"version"`
}

// Envelope statuses.
const (
	StatusSuccess = "Success"
	StatusError   = "Error"
)

// ErrorItem is one entry of an envelope's errors.
type ErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// gatewayError is the API gateway's own error body (a missing subscription key, a rate limit),
// which is not the envelope.
type gatewayError struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// Session is one GetSessionsByAccount record, field for field as the seed documents it (and in
// its order). Numbers are json.Number so no cent is rounded through a float.
type Session struct {
	Address          string        `json:"address"`
	CityKey          string        `json:"cityKey"`
	CountryCode      string        `json:"countryCode"`
	IsRfid           bool          `json:"isRfid"`
	Latitude         json.Number   `json:"latitude"`
	Longitude        json.Number   `json:"longitude"`
	PlaceID          string        `json:"placeId"`
	PlaceName        string        `json:"placeName"`
	PlaceNetwork     string        `json:"placeNetwork"`
	Rfid             string        `json:"rfid"`
	SessionEndDate   string        `json:"sessionEndDate"`
	SessionID        string        `json:"sessionId"`
	SessionStartDate string        `json:"sessionStartDate"`
	TimeZone         string        `json:"timeZone"` // the site's UTC offset, "+01:00"
	Transactions     []Transaction `json:"transactions"`
	VehicleID        string        `json:"vehicleId"`
	ZipCode          string        `json:"zipCode"`
}

// Transaction is one priced delivery within a session.
type Transaction struct {
	CurrencyKey     string      `json:"currencyKey"`
	ProductCategory string      `json:"productCategory"` // "Fueling", "Charging"
	ProductFamily   string      `json:"productFamily"`   // "Diesel", "DC"
	ProductCode     string      `json:"productCode"`     // "B7"
	Quantity        json.Number `json:"quantity"`
	QuantityUnit    string      `json:"quantityUnit"` // "L", "kWh"
	TariffCode      *string     `json:"tariffCode"`
	TotalAmount     json.Number `json:"totalAmount"`
	TransactionDate string      `json:"transactionDate"`
	UnitPrice       json.Number `json:"unitPrice"`
}
