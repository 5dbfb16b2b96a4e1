@microk8s-4671 @microk8s-3909 @k3s-5349 @egress @provider-firewall
Feature: Pod egress through a provider's stateless firewall fails for about half the connections
  Hetzner's firewall is stateless: its rule for returning traffic lets
  inbound TCP packets with ACK set through only to destination ports
  32768-65535. Pod egress is masqueraded with --random-fully (flannel and
  Calico do), which picks the source port anywhere in 1024-65535, so the
  SYN-ACKs of about (32768-1024)/(65535-1024+1) = 49% of pod connections
  are dropped and those connections time out (50.0% in fact: the kernel
  takes a random 16-bit number modulo the range's 64512 ports, so ports
  1024-2047 come up twice as often). hostNetwork connections use
  the node's net.ipv4.ip_local_port_range (32768-60999) and never fail.
  Upstream: canonical/microk8s#4671, #3909; k3s-io/k3s#5349.
  Fixes: open the firewall's rule from port 0 (profile hetzner-open), or
  SNAT pod egress into 32768-65535 on the node.
  Topology: a Calico node whose default gateway is the provider's gateway
  (a router namespace running the provider firewall in nft, from the
  profile's provider_firewall), and an internet host serving HTTP behind it.
  The node's connections are measured before the pod's: a node connection
  whose source port a pod flow to the same server already holds in the
  node's conntrack table (SNATed there) is remapped by the kernel to a
  random port, and then can fail too.

  Scenario Outline: pod and hostNetwork egress through the provider firewall on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "app" on "node1"
    And a provider gateway "gw" in front of "node1" with the internet "203.0.113.0/24"
    And an internet host "web" behind "gw" serving HTTP on port 80
    And pod egress from "10.1.0.0/16" on "node1" is masqueraded with "--random-fully"
    When "node1" opens 400 HTTP connections to "web" as "host"
    And "app" opens 400 HTTP connections to "web" as "pod"
    Then observation "pod_egress_failure_rate" should be between <pod_min>% and <pod_max>%
    And observation "pod_source_port_min" should be at most 2048
    And observation "pod_source_port_max" should be at least 63488
    And observation "host_egress_failure_rate" should be "0"
    And observation "host_local_port_range" should be "32768 60999"
    And observation "host_source_port_min" should be at least 32768
    And the reported failure is present when observation "pod_egress_failure_rate" is at least 5%
    And the reported failure should be <failure>

    Examples:
      | profile         | pod_min | pod_max | failure |
      | hetzner-default | 40      | 58      | present |
      | hetzner-open    | 0       | 0       | absent  |

  Scenario Outline: the node-side fix (pod egress SNATed into 32768-65535) on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "app" on "node1"
    And a provider gateway "gw" in front of "node1" with the internet "203.0.113.0/24"
    And an internet host "web" behind "gw" serving HTTP on port 80
    And pod egress from "10.1.0.0/16" on "node1" is masqueraded with "--random-fully"
    When pod egress from "10.1.0.0/16" on "node1" is masqueraded with "--to-ports 32768-65535 --random-fully"
    And "node1" opens 400 HTTP connections to "web" as "host"
    And "app" opens 400 HTTP connections to "web" as "pod"
    Then observation "pod_egress_failure_rate" should be "0"
    And observation "pod_source_port_min" should be at least 32768
    And observation "pod_dropped_at_gateway" should be "0"
    And observation "host_egress_failure_rate" should be "0"
    And the reported failure is present when observation "pod_egress_failure_rate" is at least 5%
    And the reported failure should be absent

    Examples:
      | profile         |
      | hetzner-default |
