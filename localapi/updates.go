package localapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tgvault/tgvault/mtproto"
)

// sseKeepAlive is how often an idle update stream gets a comment line, so
// that proxies and clients see the stream alive.
const sseKeepAlive = 30 * time.Second

// updatesHandler streams an account's updates as server-sent events:
// "event: update" with the update as JSON, and a final "event: dropped"
// with {"reason": "slow"} when the client fell too far behind,
// {"reason": "shutdown"} from CloseStreams, {"reason": "removed"} from
// Pool.Remove, or the account's final state
// ({"reason": "unauthorized"}) when it reaches one.
func updatesHandler(pool *mtproto.Pool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		sub, err := pool.Subscribe(name)
		if err != nil {
			writeError(w, err)
			return
		}
		defer sub.Close()
		fl, ok := w.(http.Flusher)
		if !ok {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "streaming unsupported"})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, ": subscribed\n\n")
		fl.Flush()
		tick := time.NewTicker(sseKeepAlive)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case b := <-sub.C():
				if _, err := fmt.Fprintf(w, "event: update\ndata: %s\n\n", b); err != nil {
					return
				}
			case <-sub.Dropped():
				// What was buffered before the drop still goes out.
			drain:
				for {
					select {
					case b := <-sub.C():
						fmt.Fprintf(w, "event: update\ndata: %s\n\n", b)
					default:
						break drain
					}
				}
				fmt.Fprintf(w, "event: dropped\ndata: {\"reason\":%q}\n\n", sub.Reason())
				fl.Flush()
				return
			case <-tick.C:
				fmt.Fprint(w, ": keep-alive\n\n")
			}
			fl.Flush()
		}
	}
}
