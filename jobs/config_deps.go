package main

import "github.com/osmtrack/osmtrack/etl/config"

// checkConfigDeps loads what the configuration names (region files, rules) so that
// `config check` finds their errors too. Steps add their checks here.
func checkConfigDeps(cfg *config.Config) error {
	_, err := loadRules(cfg) // loads the regions first
	return err
}
