package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chathooks/chathooks/internal/inbound"
	"github.com/chathooks/chathooks/internal/secretbox"
	"github.com/chathooks/chathooks/internal/store"
	"github.com/chathooks/chathooks/internal/store/postgres"
	"github.com/chathooks/chathooks/internal/store/sqlstore"
)

// scaleOut is what a node sharing a PostgreSQL database needs beside the store: a small
// pool for the shared room rate limiter, and the LISTEN loop that tells this node's live
// streams and delivery engine about other nodes' commits.
type scaleOut struct {
	pool    *pgxpool.Pool
	limiter *postgres.RoomLimiter
	stop    context.CancelFunc
	done    chan struct{}
}

func (a *App) openScaleOut(ctx context.Context) error {
	if !store.IsPostgres(a.cfg.DatabaseURL) {
		return nil
	}
	pool, err := postgres.Pool(ctx, a.cfg.DatabaseURL, 8)
	if err != nil {
		return err
	}
	a.pg = &scaleOut{pool: pool, limiter: postgres.NewRoomLimiter(pool, a.cfg.Clock, a.cfg.RoomRateLimit, a.cfg.RoomRateBurst)}
	return nil
}

// roomLimiter is the per-room incoming rate limiter: shared through the database when
// nodes share PostgreSQL, in memory otherwise.
func (a *App) roomLimiter() inbound.Limiter {
	if a.pg != nil {
		return pgLimiter{l: a.pg.limiter, log: a.log}
	}
	return inbound.NewLimiter(a.cfg.RoomRateLimit, a.cfg.RoomRateBurst, a.cfg.Clock)
}

type pgLimiter struct {
	l   *postgres.RoomLimiter
	log *slog.Logger
}

// Allow implements inbound.Limiter. If the database cannot answer, the post is let through
// to the write, which then reports the outage in the dialect's shape.
func (p pgLimiter) Allow(room string, at time.Time) (bool, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ok, wait, err := p.l.Allow(ctx, room, at)
	if err != nil {
		p.log.Warn("room rate limit unavailable", slog.Any("error", err))
		return true, 0
	}
	return ok, wait
}

// startScaleOut starts listening for other nodes' commits.
func (a *App) startScaleOut() {
	if a.pg == nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	a.pg.stop, a.pg.done = stop, make(chan struct{})
	go func() {
		defer close(a.pg.done)
		postgres.Listen(ctx, a.cfg.DatabaseURL, a.nodeID, a.log, func(rooms []string) {
			e := a.DeliveryEngine()
			if rooms == nil { // (re)connected: anything committed before may have been missed
				a.Broker.PokeAll()
				a.Service.WebhooksChangedElsewhere()
				if e != nil {
					e.EndpointsChanged()
					e.DeliveriesDue()
				}
			}
			for _, r := range rooms {
				switch r {
				case sqlstore.NotifyEndpoints:
					if e != nil {
						e.EndpointsChanged()
					}
				case sqlstore.NotifyDeliveries:
					if e != nil {
						e.DeliveriesDue()
					}
				case sqlstore.NotifyWebhooks:
					a.Service.WebhooksChangedElsewhere()
				default:
					a.Broker.Poke(r)
				}
			}
			if e != nil {
				e.OtherNodeWrote()
			}
			if s, ok := a.Store.(interface{ OtherNodeWrote() }); ok && rooms != nil {
				s.OtherNodeWrote() // its writers then begin batches before gathering them
			}
		})
	}()
}

func (a *App) stopScaleOut() {
	if a.pg == nil {
		return
	}
	if a.pg.stop != nil {
		a.pg.stop()
		<-a.pg.done
	}
	a.pg.pool.Close()
}

// secretBox returns the key that seals endpoint secrets at rest: --secret-key when given;
// else, with PostgreSQL, a key kept in the database so that every node shares it (anyone
// who can read the database can then unseal them: set --secret-key to keep the key apart);
// else the key file in the data directory.
func (a *App) secretBox(ctx context.Context) (*secretbox.Box, error) {
	if a.cfg.SecretKey != "" {
		key, err := base64.StdEncoding.DecodeString(a.cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("app: --secret-key is not base64: %w", err)
		}
		return secretbox.New(key)
	}
	if a.pg != nil {
		var k [32]byte
		_, _ = rand.Read(k[:])
		enc, err := postgres.SharedSetting(ctx, a.pg.pool, "endpoint_secret_key", base64.StdEncoding.EncodeToString(k[:]))
		if err != nil {
			return nil, err
		}
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("app: stored endpoint secret key: %w", err)
		}
		return secretbox.New(key)
	}
	return secretbox.LoadOrCreate(a.cfg.DataDir)
}
