@vocabulary @dns
Feature: Cluster DNS for Service names, from a pod and through the node's resolver
  Written from features/README.md alone: a DNS server in a pod answering
  for the Services, a pod asking it, and the node's stub resolver
  (127.0.0.53) forwarding to it across the pod network.

  Scenario Outline: DNS on one Calico node (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16,fd01::/64"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a ClusterIP Service "web" with IPs "10.152.183.10,fd98::10" on port 80 for pod "web"
    And a DNS server in pod "coredns" on "node1" answering for the Services
    And the resolver of "node1" forwards to pod "coredns"
    And a pod "app" on "node1"
    When "app" looks up A "web.default.svc.cluster.local" via pod "coredns" as "from_pod"
    And "app" looks up AAAA "web.default.svc.cluster.local" via pod "coredns" as "from_pod_v6"
    And "node1" looks up A "web.default.svc.cluster.local" via its resolver as "from_node"
    And "node1" looks up A "nope.default.svc.cluster.local" via its resolver as "unknown"
    Then observation "from_pod" should be "10.152.183.10"
    And observation "from_pod_v6" should be "fd98::10"
    And observation "from_node" should be "10.152.183.10"
    And observation "unknown" should be "NXDOMAIN"

    Examples:
      | profile              |
      | microk8s-1.32-calico |

  Scenario Outline: DNS on another bridge node, and a DNS pod that is gone (<profile>)
    Given a node "node1"
    And a node "node2"
    And a pod "web" on "node1" serving HTTP with hostPorts "8080:80"
    And a ClusterIP Service "web" with IPs "10.152.183.11" on port 80 for pod "web"
    And a DNS server in pod "coredns" on "node2" answering for the Services
    And the resolver of "node1" forwards to pod "coredns"
    When "web" looks up A "web.default.svc.cluster.local" via pod "coredns" as "from_pod"
    And "node1" looks up A "web.default.svc.cluster.local" via its resolver as "from_node"
    And I run "iptables -I FORWARD -p udp --dport 53 -j DROP" on "node2"
    And "node1" looks up A "web.default.svc.cluster.local" via its resolver as "dropped"
    Then observation "from_pod" should be "10.152.183.11"
    And observation "from_node" should be "10.152.183.11"
    And observation "dropped" should be "SERVFAIL"

    Examples:
      | profile         |
      | microk8s-1.31.6 |
