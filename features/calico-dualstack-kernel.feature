@microk8s-5022 @microk8s-4961 @calico @ipv6 @kernel
Feature: IPv6 Services break on Ubuntu kernels without the IPv6 MARK target
  Ubuntu 24.04's kernels 6.8.0-56 and 6.8.0-57 lack the IPv6 MARK target
  (ip6t MARK). Calico's Felix and kube-proxy write their IPv6 rules with
  ip6tables-legacy-restore and `-j MARK --set-mark` / `--or-mark`; on those
  kernels the restore prints "Warning: Extension MARK revision 0 not
  supported, missing kernel module?" and fails, Felix retries forever, and
  IPv6 Services do not answer while IPv4 ones do. 6.8.0-55 is fine, 6.8.0-58
  fixes it, and an IPv4-only cluster (IPv6 disabled) avoids it.
  Upstream: canonical/microk8s#5022, #4961.
  The node runs Calico-style routed pods (cali* veths) for both families; a
  client pod on the node requests the Service's ClusterIP of each family,
  backed by a real HTTP server in the "web" pod. Without kube-proxy's IPv6
  rules the node has no route for the ClusterIP: the client's connect
  either waits out the probe's deadline (timeout) or, when the node's
  ICMPv6 "no route" error for a retransmitted SYN arrives before the
  deadline, fails with "network is unreachable" (seen under load); both are
  the reported failure, and the cell's evidence says which happened.

  Scenario Outline: dual-stack Services on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16,fd01::/64"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a pod "client" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.10,fd98::10" on port 80 for pod "web"
    When Felix programs its ipv4 rules on "node1" as "felix_restore_v4"
    And Felix programs its ipv6 rules on "node1" as "felix_restore_v6"
    And kube-proxy syncs the ipv4 Services on "node1" as "kube_proxy_restore_v4"
    And kube-proxy syncs the ipv6 Services on "node1" as "kube_proxy_restore_v6"
    And "client" requests HTTP from Service "web" over ipv4 as "service_v4_http"
    And "client" requests HTTP from Service "web" over ipv6 as "service_v6_http"
    Then observation "felix_restore_v4" should be "ok"
    And observation "kube_proxy_restore_v4" should be "ok"
    And observation "service_v4_http" should be "200"
    And observation "felix_restore_v6" should be <v6_restore>
    And observation "kube_proxy_restore_v6" should be <v6_restore>
    And observation "service_v6_http" should be "<v6_http>"
    And the reported failure is present when observation "service_v6_http" is not "200"
    And the reported failure should be <failure>

    Examples:
      | profile         | v6_restore                                                                            | v6_http | failure |
      | calico-6.8.0-55 | "ok"                                                                                  | 200     | absent  |
      | calico-6.8.0-57 | containing "Warning: Extension MARK revision 0 not supported, missing kernel module?" | timeout\|unreachable | present |
      | calico-6.8.0-58 | "ok"                                                                                  | 200     | absent  |

  Scenario Outline: IPv4-only cluster (IPv6 disabled, the workaround) on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a pod "client" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.10" on port 80 for pod "web"
    When Felix programs its ipv4 rules on "node1" as "felix_restore_v4"
    And kube-proxy syncs the ipv4 Services on "node1" as "kube_proxy_restore_v4"
    And "client" requests HTTP from Service "web" over ipv4 as "service_v4_http"
    Then observation "felix_restore_v4" should be "ok"
    And observation "kube_proxy_restore_v4" should be "ok"
    And the reported failure is present when observation "service_v4_http" is not "200"
    And the reported failure should be absent

    Examples:
      | profile         |
      | calico-6.8.0-57 |
