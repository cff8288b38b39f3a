package tclient

import (
	"testing"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
)

// Every client this repository builds sends its requests uncompressed:
// the SDK's default gzip costs CPU on both sides for sealed payloads
// that do not shrink.
func TestOptionsSendRequestsUncompressed(t *testing.T) {
	opts := Config{Address: DefaultAddress, Namespace: DefaultNamespace}.Options(zerolog.Nop())
	if _, ok := opts.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
		t.Errorf("ConnectionOptions.GrpcCompression = %T, want *client.GrpcCompressionNone", opts.ConnectionOptions.GrpcCompression)
	}
}
