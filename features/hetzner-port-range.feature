@microk8s-4671 @microk8s-3909 @k3s-5349 @egress @provider-firewall
Feature: Pod egress through a provider's stateless firewall fails for about half the connections
  Hetzner's firewall is stateless: its rule for returning traffic lets
  inbound TCP packets with ACK set through only to destination ports
  32768-65535 (and UDP answers only to the same range). Pod egress is
  masqueraded with --random-fully (Felix's natOutgoing rule, as flannel's),
  which picks the source port anywhere in 1024-65535, so the answers of
  about (32768-1024)/(65535-1024+1) = 49% of pod connections are dropped
  and those connections time out (50.0% in fact: the kernel takes a random
  16-bit number modulo the range's 64512 ports, so ports 1024-2047 come up
  twice as often). UDP is hit the same way (#3909: "TCP and UDP connections
  initiated by Pods time out/fail often (~50% of time)"). hostNetwork
  connections use the node's net.ipv4.ip_local_port_range (32768-60999)
  and never fail. IPv6 was not filtered upstream (an assumption, sourced
  only by the firewall rules the reporters quote, all IPv4): the lab's
  gateway filters IPv4 only and runs no IPv6 batch.
  Upstream: canonical/microk8s#4671, #3909; k3s-io/k3s#5349.
  Fixes: open the firewall's rule from port 0 (profile hetzner-open), or,
  on the node, Calico's natPortRange (FELIX_NATPORTRANGE; profile
  hetzner-natportrange): Felix's MASQUERADE rules for tcp and udp get
  `--to-ports 32768-65535 --random-fully` (felix/rules/nat.go).
  Topology: a Calico node whose default gateway is the provider's gateway
  (a router namespace running the provider firewall in nft, from the
  profile's provider_firewall), and an internet host serving HTTP (and
  answering UDP) behind it.
  The node's connections are measured before the pod's: a node connection
  whose source port a pod flow to the same server already holds in the
  node's conntrack table (SNATed there) is remapped by the kernel to a
  random port, and then can fail too.

  Scenario Outline: pod and hostNetwork egress through the provider firewall on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "app" on "node1"
    And a provider gateway "gw" in front of "node1" with the internet "203.0.113.0/24"
    And an internet host "web" behind "gw" serving HTTP on port 80
    And pod egress from "10.1.0.0/16" on "node1" is masqueraded by Felix's natOutgoing
    When "node1" opens 400 HTTP connections to "web" as "host"
    And "app" opens 400 HTTP connections to "web" as "pod"
    And "node1" sends 400 UDP datagrams to internet host "web" as "host"
    And "app" sends 400 UDP datagrams to internet host "web" as "pod"
    Then observation "pod_egress_failure_rate" should be between <pod_min>% and <pod_max>%
    And observation "pod_source_port_min" should be at most 2048
    And observation "pod_source_port_max" should be at least 63488
    And observation "host_egress_failure_rate" should be "0"
    And observation "host_local_port_range" should be "32768 60999"
    And observation "host_source_port_min" should be at least 32768
    And observation "pod_udp_failure_rate" should be between <pod_min>% and <pod_max>%
    And observation "pod_udp_dropped_port_max" should be at most <udp_dropped_max>
    And observation "host_udp_failure_rate" should be "0"
    And the reported failure is present when observation "pod_egress_failure_rate" is at least 5%
    And the reported failure is present when observation "pod_udp_failure_rate" is at least 5%
    And the reported failure should be <failure>

    Examples:
      | profile         | pod_min | pod_max | udp_dropped_max | failure |
      | hetzner-default | 40      | 58      | 32767           | present |
      | hetzner-open    | 0       | 0       | 0               | absent  |

  Scenario Outline: the node-side fix, Calico's natPortRange, on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "app" on "node1"
    And a provider gateway "gw" in front of "node1" with the internet "203.0.113.0/24"
    And an internet host "web" behind "gw" serving HTTP on port 80
    And pod egress from "10.1.0.0/16" on "node1" is masqueraded by Felix's natOutgoing
    When "node1" opens 400 HTTP connections to "web" as "host"
    And "app" opens 400 HTTP connections to "web" as "pod"
    And "app" sends 400 UDP datagrams to internet host "web" as "pod"
    Then observation "pod_egress_failure_rate" should be "0"
    And observation "pod_source_port_min" should be at least 32768
    And observation "pod_dropped_at_gateway" should be "0"
    And observation "host_egress_failure_rate" should be "0"
    And observation "pod_udp_failure_rate" should be "0"
    And observation "pod_udp_dropped_flows_at_gateway" should be "0"
    And the reported failure is present when observation "pod_egress_failure_rate" is at least 5%
    And the reported failure is present when observation "pod_udp_failure_rate" is at least 5%
    And the reported failure should be absent

    Examples:
      | profile              |
      | hetzner-natportrange |
