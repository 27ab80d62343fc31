package site

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// userInfo is what the analyse step cached about a user from the OSM API (osm_users, the
// newest day per user).
type userInfo struct {
	Name           string
	Changesets     int
	BlocksReceived int
	BlocksActive   int
	AccountCreated *time.Time
	Day            time.Time
}

// users reads the newest osm_users row of every user.
func (s *snapshot) users(ctx context.Context) (map[int64]userInfo, error) {
	rows, err := s.tx.Query(ctx, `SELECT DISTINCT ON (uid) uid, coalesce(display_name, ''), changesets_count, blocks_received, blocks_active, account_created, day
		FROM osm_users ORDER BY uid, day DESC`)
	if err != nil {
		return nil, fmt.Errorf("publish: read users: %w", err)
	}
	defer rows.Close()
	out := map[int64]userInfo{}
	for rows.Next() {
		var uid int64
		var u userInfo
		if err := rows.Scan(&uid, &u.Name, &u.Changesets, &u.BlocksReceived, &u.BlocksActive, &u.AccountCreated, &u.Day); err != nil {
			return nil, fmt.Errorf("publish: read users: %w", err)
		}
		out[uid] = u
	}
	return out, rows.Err()
}

// userCard is the context for a decision about a user's edit.
type userCard struct {
	User, PageHref, ProfileHref, HDYCHref, OSMChaHref string
	Known                                             bool // the API's details are cached
	Age, Created, AsOf                                string
	Changesets, BlocksReceived, BlocksActive          int
	// Here: on this site (user pages only).
	HasHere               bool
	SeenHere, FlaggedHere int
	FirstHere             string
}

func (p *publisher) card(user string, uid int64, now time.Time) *userCard {
	if user == "" && uid == 0 {
		return nil
	}
	c := &userCard{User: user, PageHref: userPage(user, uid, 1)}
	if user != "" {
		c.ProfileHref = "https://www.openstreetmap.org/user/" + pathEscape(user)
		c.HDYCHref = "https://hdyc.neis-one.org/?" + url.QueryEscape(user)
		c.OSMChaHref = "https://osmcha.org/?filters=" + url.QueryEscape(`{"users":[{"label":"`+jsonEscape(user)+`","value":"`+jsonEscape(user)+`"}]}`)
	}
	if u, ok := p.users[uid]; ok && uid > 0 {
		c.Known = true
		c.Changesets, c.BlocksReceived, c.BlocksActive = u.Changesets, u.BlocksReceived, u.BlocksActive
		c.AsOf = u.Day.Format("2006-01-02")
		if u.AccountCreated != nil {
			c.Created = u.AccountCreated.UTC().Format("2006-01-02")
			c.Age = ageText(now.Sub(*u.AccountCreated))
		}
	}
	return c
}

// ageText is an account's age in words: "3 days", "5 months", "2.5 years".
func ageText(d time.Duration) string {
	days := int(d.Hours() / 24)
	switch {
	case days < 1:
		return "less than a day"
	case days < 61:
		return fmt.Sprintf("%d days", days)
	case days < 730:
		return fmt.Sprintf("%d months", days/30)
	}
	return fmt.Sprintf("%.1f years", float64(days)/365.25)
}
