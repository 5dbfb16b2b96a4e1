@microk8s-4944 @dnat @hostport
Feature: Stale hostPort DNAT rules after microk8s stop/start
  MicroK8s v1.32.2 (snap revision 7731) removes pod containers with ctr on
  `microk8s stop` without a CNI DEL, so the portmap plugin's per-pod DNAT
  chains stay behind. `microk8s start` creates new sandboxes and CNI ADD
  appends their jumps after the stale ones: two hostPort pods give 2 jumps in
  CNI-HOSTPORT-DNAT after boot and 4 after stop/start, and traffic to the
  node's public address is DNATed to the dead pod IPs first.
  Upstream: canonical/microk8s#4944, fixed by #4963 (stop flushes the chain).
  Workaround: iptables-legacy -t nat -F CNI-HOSTPORT-DNAT once the pods are
  gone, before they are recreated (what the fix does inside stop).

  Scenario Outline: two hostPort pods across microk8s stop/start on <profile>
    Given a node "node1"
    And a client "client" on the public network
    And a pod "ingress" on "node1" serving HTTP with hostPorts "80,443"
    And a pod "web" on "node1" serving HTTP with hostPorts "9071,9669"
    When I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "dnat_jumps_before"
    And MicroK8s is stopped on "node1"
    And MicroK8s is started on "node1"
    And I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "dnat_jumps_after"
    And "client" requests HTTP ports "80,443" of the public address of "node1" as "public_http"
    Then observation "dnat_jumps_before" should be "2"
    And observation "dnat_jumps_after" should be "<jumps_after>"
    And observation "public_http_80" should be "<http>"
    And observation "public_http_443" should be "<http>"
    And the reported failure is present when observation "dnat_jumps_after" is at least 3
    And the reported failure is present when observation "public_http_80" is not "200"
    And the reported failure should be <failure>

    Examples:
      | profile         | jumps_after | http    | failure |
      | microk8s-1.31.6 | 2           | 200     | absent  |
      | microk8s-1.32.2 | 4           | timeout | present |
      | microk8s-1.32.3 | 2           | 200     | absent  |

  Scenario Outline: the manual workaround (flush CNI-HOSTPORT-DNAT between stop and start) on <profile>
    Given a node "node1"
    And a client "client" on the public network
    And a pod "ingress" on "node1" serving HTTP with hostPorts "80,443"
    And a pod "web" on "node1" serving HTTP with hostPorts "9071,9669"
    When MicroK8s is stopped on "node1"
    And I run "iptables-legacy -t nat -F CNI-HOSTPORT-DNAT" on "node1"
    And MicroK8s is started on "node1"
    And I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "dnat_jumps_after"
    And "client" requests HTTP ports "80,443" of the public address of "node1" as "public_http"
    Then observation "dnat_jumps_after" should be "2"
    And the reported failure is present when observation "public_http_80" is not "200"
    And the reported failure is present when observation "public_http_443" is not "200"
    And the reported failure should be absent

    Examples:
      | profile         |
      | microk8s-1.32.2 |
