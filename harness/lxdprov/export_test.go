package lxdprov

import "lab/harness/provider"

// SettleSlots waits until the container made ahead for e's next node is
// prepared (tests that look at what a cell left).
func SettleSlots(e provider.Env) {
	ce := e.(*env)
	ce.mu.Lock()
	ahead := ce.ahead
	ce.mu.Unlock()
	for _, s := range ahead {
		<-s.done
	}
}
