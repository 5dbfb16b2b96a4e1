@vocabulary @multinode
Feature: Pods on two nodes reach each other
  Written from features/README.md alone: two Calico nodes and two bridge
  (flannel) nodes, vxlan and host-gw, pod to pod across nodes over TCP and
  UDP, the path MTU across a VXLAN device, and a Service with an endpoint
  on each node.

  Scenario Outline: two Calico nodes (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a Calico node "node2" with pod CIDRs "10.1.0.0/16"
    And a pod "app" on "node1"
    And a pod "web1" on "node1" serving HTTP on port 8080
    And a pod "web2" on "node2" serving HTTP on port 8080
    And a ClusterIP Service "web" with IPs "10.152.183.30" on port 80 for pods "web1,web2"
    And kube-proxy runs on "node1"
    When "app" requests HTTP from pod "web2" over ipv4 as "cross_node"
    And "app" sends a UDP datagram to pod "web2" over ipv4 as "cross_node_udp"
    And "app" requests HTTP 30 times from Service "web" over ipv4 as "spread"
    And I run "ip -4 route show" on "node1" as "routes"
    Then observation "cross_node" should be "200"
    And observation "cross_node_udp" should be "ok"
    And observation "spread_backends" should be "2"
    And observation "routes_output" should be containing "10.1.0.64/26 via 10.1.0.64 dev vxlan.calico onlink"

    Examples:
      | profile              |
      | microk8s-1.32-calico |

  Scenario Outline: two bridge nodes (<profile>)
    Given a node "node1"
    And a node "node2"
    And a pod "a" on "node1" serving HTTP with hostPorts "8080:80"
    And a pod "b" on "node2" serving HTTP with hostPorts "8080:80"
    When "a" requests HTTP from pod "b" over ipv4 as "cross_node"
    And "b" sends a UDP datagram to pod "a" over ipv4 as "cross_node_udp"
    And "a" sends a 1372-byte UDP payload without fragmenting to pod "b" over ipv4 as "small"
    And "a" sends a 1472-byte UDP payload without fragmenting to pod "b" over ipv4 as "large"
    And I run "ip -4 route show 10.1.85.0/24" on "node1" as "route"
    Then observation "cross_node" should be "200"
    And observation "cross_node_udp" should be "ok"
    And observation "pod_ip_b" should be "10.1.85.2"
    And observation "route_output" should be containing "<route>"
    And observation "small" should be "ok"
    And observation "large" should be "too big"
    And observation "large_path_mtu" should be "<path_mtu>"

    Examples:
      | profile               | route                   | path_mtu |
      | microk8s-1.31.6       | via 10.1.85.0 dev flannel.1 | 1450 |
      | microk8s-1.31.6-tuned | via 198.51.100.11 dev eth0  | 1400 |
