package lxdfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/canonical/lxd/shared/api"
)

// listInstances answers GET /1.0/instances (with recursion: the objects).
func (s *Server) listInstances(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.instances))
	for n := range s.instances {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []*api.Instance{}
	for _, n := range names {
		out = append(out, s.instances[n])
	}
	sync200(w, out)
}

// update answers PUT /1.0/instances/NAME: the new config and devices; a
// NIC gets its MAC address in volatile.NAME.hwaddr, as LXD gives it.
func (s *Server) update(w http.ResponseWriter, r *http.Request, in *api.Instance) {
	var put api.InstancePut
	if err := json.NewDecoder(r.Body).Decode(&put); err != nil {
		fail(w, http.StatusBadRequest, "lxdfake: bad instance update: %v", err)
		return
	}
	s.mu.Lock()
	in.Config, in.Devices = put.Config, put.Devices
	if in.Config == nil {
		in.Config = map[string]string{}
	}
	for name, d := range in.Devices {
		key := "volatile." + name + ".hwaddr"
		if d["type"] == "nic" && in.Config[key] == "" {
			s.nextID++
			in.Config[key] = fmt.Sprintf("00:16:3e:00:00:%02x", s.nextID%256)
		}
	}
	s.mu.Unlock()
	async(w, s.newOp("task", true, nil))
}

// network answers /1.0/networks: list (with recursion), create, get and
// delete.
func (s *Server) network(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case name == "" && r.Method == http.MethodGet:
		out := []*api.Network{}
		for _, n := range s.networks {
			out = append(out, n)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		sync200(w, out)
	case name == "" && r.Method == http.MethodPost:
		var req api.NetworksPost
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, "lxdfake: bad network request: %v", err)
			return
		}
		if _, dup := s.networks[req.Name]; dup {
			fail(w, http.StatusConflict, "Network %q already exists", req.Name)
			return
		}
		s.networks[req.Name] = &api.Network{Name: req.Name, Type: req.Type, Managed: true, Config: req.Config, Description: req.Description}
		sync200(w, nil)
	case strings.Contains(name, "/"):
		fail(w, http.StatusNotFound, "lxdfake: networks/%s is not part of the fake", name)
	case s.networks[name] == nil:
		fail(w, http.StatusNotFound, "Network not found")
	case r.Method == http.MethodGet:
		sync200(w, s.networks[name])
	case r.Method == http.MethodDelete:
		delete(s.networks, name)
		sync200(w, nil)
	default:
		fail(w, http.StatusMethodNotAllowed, "lxdfake: %s of a network is not part of the fake", r.Method)
	}
}

// Networks returns the names of the networks that exist.
func (s *Server) Networks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.networks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
