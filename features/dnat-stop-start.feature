@microk8s-4944 @dnat @hostport
Feature: Stale hostPort DNAT rules after microk8s stop/start
  MicroK8s v1.32.2 (snap revision 7731) removes pod containers with ctr on
  `microk8s stop` without a CNI DEL (microk8s-stop.wrapper ->
  remove_all_containers in actions/common/utils.sh, from #4755), so the
  portmap plugin's per-pod DNAT chains stay behind. `microk8s start`
  creates new sandboxes and CNI ADD appends their jumps after the stale
  ones: two hostPort pods give 2 jumps in CNI-HOSTPORT-DNAT after boot and
  4 after stop/start (the reporter's counts), and traffic to the node's
  ports is DNATed to the dead pod addresses first. What a client sees: a
  request to the public address from another host, and one to
  127.0.0.1 on the node itself (#4944: "127.0.0.1 or localhost do not work
  either"), both time out; the node's conntrack entry shows the DNAT to the
  old pod address, whose neighbour entry stays INCOMPLETE (nothing answers
  ARP for it). pod_ip_NAME follows the new sandboxes after start.
  The affected range is by snap revision, not release: #4755 reached 1.32
  and was backported to 1.31 and 1.30 in February 2025; the fix #4963
  (stop runs `iptables-legacy -t nat -F CNI-HOSTPORT-DNAT || true`) was
  backported on 2025-03-26/27 (#4966 for 1.32, #4968 for 1.31, #4970/#4971
  for 1.30). Revisions: 1.32.2 rev 7731 broken and 1.31.6 rev 7746 fine
  when #4944 was reported (2025-03-19); the first fixed revisions are
  unknown (the microk8s-1.32.3 cell shows snap_revision unknown).
  The fix's own regression (#5005): run without sudo, the flush fails with
  "Fatal: can't open lock file /run/xtables.lock: Permission denied", stop
  goes on, and the stale jumps stay; #5021/#5033 (2025-04-16) run it with
  sudo.
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
    And "node1" requests HTTP ports "80,443" of localhost as "localhost_http"
    Then observation "dnat_jumps_before" should be "2"
    And observation "dnat_jumps_after" should be "<jumps_after>"
    And observation "public_http_80" should be "<http>"
    And observation "public_http_443" should be "<http>"
    And observation "localhost_http_80" should be "<http>"
    And observation "localhost_http_443" should be "<http>"
    And the reported failure is present when observation "dnat_jumps_after" is at least 3
    And the reported failure is present when observation "public_http_80" is not "200"
    And the reported failure is present when observation "localhost_http_80" is not "200"
    And the reported failure should be <failure>

    Examples:
      | profile         | jumps_after | http    | failure |
      | microk8s-1.31.6 | 2           | 200     | absent  |
      | microk8s-1.32.2 | 4           | timeout | present |
      | microk8s-1.32.3 | 2           | 200     | absent  |

  Scenario Outline: the fix's own regression (#5005): microk8s stop without sudo on <profile>
    Given a node "node1"
    And a client "client" on the public network
    And a pod "ingress" on "node1" serving HTTP with hostPorts "80,443"
    And a pod "web" on "node1" serving HTTP with hostPorts "9071,9669"
    When MicroK8s is stopped on "node1" without sudo as "stop_output"
    And MicroK8s is started on "node1"
    And I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "dnat_jumps_after"
    And "client" requests HTTP ports "80,443" of the public address of "node1" as "public_http"
    And "node1" requests HTTP ports "80,443" of localhost as "localhost_http"
    Then observation "stop_output" should be containing "can't open lock file /run/xtables.lock: Permission denied"
    And observation "dnat_jumps_after" should be "4"
    And observation "public_http_80" should be "timeout"
    And observation "localhost_http_80" should be "timeout"
    And the reported failure is present when observation "dnat_jumps_after" is at least 3
    And the reported failure should be present

    Examples:
      | profile         |
      | microk8s-1.32.3 |

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
