package sim

// Ext returns the cell's state stored under key, creating it with mk on
// first use. Driver parts that live in their own files (the routed
// dual-stack pod network, Services, Felix) keep their per-cell state here
// instead of in package globals; it lives as long as the Cluster.
func (c *Cluster) Ext(key string, mk func() any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ext == nil {
		c.ext = map[string]any{}
	}
	v, ok := c.ext[key]
	if !ok {
		v = mk()
		c.ext[key] = v
	}
	return v
}
