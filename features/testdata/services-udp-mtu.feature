@vocabulary
Feature: Services with several endpoints, UDP and payload sizes
  Written from features/README.md alone: a Service backed by two pods on a
  Calico node and on a bridge node, UDP datagrams and batches, a UDP
  hostPort, and payload-size probes around the pod MTU.

  Scenario Outline: several endpoints, UDP and MTU on a Calico node (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "a" on "node1" serving HTTP on port 8080
    And a pod "b" on "node1" serving HTTP on port 8080
    And a pod "app" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.20" on port 80 for pods "a,b"
    And kube-proxy runs on "node1"
    When "app" requests HTTP 30 times from Service "web" over ipv4 as "spread"
    And "app" sends a UDP datagram to pod "a" over ipv4 as "udp"
    And "app" sends 100 UDP datagrams to pod "b" over ipv4 as "udp_batch"
    And "app" sends a 1472-byte UDP payload without fragmenting to pod "a" over ipv4 as "fits"
    And "app" sends a 1473-byte UDP payload without fragmenting to pod "a" over ipv4 as "too_big"
    Then observation "spread_backends" should be "2"
    And observation "spread_a" should be at least 1
    And observation "udp" should be "ok"
    And observation "udp_batch_failure_rate" should be at most 5
    And observation "fits" should be "ok"
    And observation "too_big" should be "too big"
    And observation "too_big_path_mtu" should be "<mtu>"

    Examples:
      | profile             | mtu  |
      | microk8s-1.32-calico | 1500 |

  Scenario Outline: several endpoints and a UDP hostPort on a bridge node (<profile>)
    Given a node "node1"
    And a client "client" on the public network
    And a pod "a" on "node1" serving HTTP with hostPorts "8080:80,5353/udp"
    And a pod "b" on "node1" serving HTTP with hostPorts "8081:80"
    And a pod "c" on "node1" serving HTTP with hostPorts "8082:80"
    And a ClusterIP Service "web" with IPs "10.152.183.21" on port 80 for pods "a,b"
    And a NodePort Service "np" with IPs "10.152.183.22" on port 80 and node port 30080 for pods "a,b"
    And kube-proxy runs on "node1"
    When "c" requests HTTP 30 times from Service "web" over ipv4 as "spread"
    And "client" sends a UDP datagram to port 5353 of the public address of "node1" as "udp_hostport"
    And "client" sends a UDP datagram to port 5354 of the public address of "node1" as "udp_closed"
    And "client" requests path "/" on port 30080 of the public address of "node1" as "nodeport"
    Then observation "spread_backends" should be "2"
    And observation "udp_hostport" should be "ok"
    And observation "udp_closed" should be "refused"
    And observation "nodeport" should be "200"

    Examples:
      | profile         |
      | microk8s-1.32.2 |
