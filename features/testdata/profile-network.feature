@vocabulary
Feature: A profile's node network: hairpin mode, MTUs, sysctls
  Written from features/README.md alone: the same pod on the default
  MicroK8s 1.31.6 profile and on one without hairpin mode, with MTU 1400
  for pods and uplink and tuned sysctls.

  Scenario Outline: node network settings on <profile>
    Given a node "node1"
    And a client "client" on the public network
    And a pod "a" on "node1" serving HTTP with hostPorts "8080:80,5353/udp"
    And a pod "b" on "node1" serving HTTP with hostPorts "8081:80"
    When "a" requests HTTP port "8080" of the public address of "node1" as "hairpin"
    And "client" sends a 1472-byte UDP payload without fragmenting to port 5353 of the public address of "node1" as "uplink_1500"
    And "client" sends a 1372-byte UDP payload without fragmenting to port 5353 of the public address of "node1" as "uplink_1400"
    And "a" sends a 1472-byte UDP payload without fragmenting to pod "b" over ipv4 as "pod_1500"
    And I run "cat /proc/sys/net/ipv4/ip_local_port_range" on "node1" as "port_range"
    And I run "ip -o link show eth0" in pod "a" as "pod_link"
    Then observation "hairpin_8080" should be "<hairpin>"
    And observation "uplink_1500" should be "<uplink_1500>"
    And observation "uplink_1400" should be "ok"
    And observation "pod_1500" should be "<pod_1500>"
    And observation "port_range_output" should be containing "<port_range>"
    And observation "pod_link_output" should be containing "mtu <pod_mtu>"

    Examples:
      | profile               | hairpin | uplink_1500 | pod_1500 | port_range | pod_mtu |
      | microk8s-1.31.6       | 200     | ok          | ok       | 32768      | 1500    |
      | microk8s-1.31.6-tuned | timeout | timeout     | too big  | 40000      | 1400    |
