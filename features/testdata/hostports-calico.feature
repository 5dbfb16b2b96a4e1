@vocabulary @calico
Feature: hostPorts on a Calico node
  Written from features/README.md alone: a pod with TCP and UDP hostPorts on
  a Calico node, reached on the node's public address.

  Scenario Outline: hostPorts on a Calico node (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a client "client" on the public network
    And a pod "ingress" on "node1" serving HTTP with hostPorts "80:8080,443:8443,5353/udp"
    When "client" requests HTTP ports "80,443" of the public address of "node1" as "public_http"
    And "client" sends a UDP datagram to port 5353 of the public address of "node1" as "udp"
    And I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "dnat_jumps"
    And I run "iptables-save -t nat" on "node1" as "nat"
    Then observation "public_http_80" should be "200"
    And observation "public_http_443" should be "200"
    And observation "udp" should be "ok"
    And observation "dnat_jumps" should be at least 1
    And observation "nat_output" should be containing "dnat name: \"k8s-pod-network\""

    Examples:
      | profile              |
      | microk8s-1.32-calico |
