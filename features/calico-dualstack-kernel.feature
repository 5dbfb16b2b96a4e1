@microk8s-5022 @microk8s-4961 @calico @ipv6 @kernel
Feature: IPv6 Services break on Ubuntu kernels whose backport lost the IPv6 MARK target
  Ubuntu 24.04's kernels 6.8.0-56 (#4961) and 6.8.0-57 (#5022) carry a
  stable backport of "netfilter: xtables: avoid NFPROTO_UNSPEC where needed"
  that registered the MARK and NFLOG targets (and TRACE's autoload) for IPv4
  only; upstream fixed it in 306ed1728e84. Calico's Felix writes its IPv6
  rules with `--jump MARK --set-mark`: the restore fails, Felix retries,
  panics and is restarted, calico-node does not stabilise (#5022: "my
  cluster does not stabilize. The calico nodes fail to come up"), and IPv6
  Services do not answer while IPv4 ones do (#4961). 6.8.0-55 is fine;
  an IPv4-only cluster (IPv6 disabled) avoids it.
  Upstream: canonical/microk8s#5022, #4961.

  What upstream printed (quoted from #5022, not what runs here): Felix's
  log of calico/node's own iptables 1.8.4,
    ip6tables-restore v1.8.4 (legacy): unknown option "--set-mark"
    Error occurred at line: 7
  The lab runs the node's own iptables instead; the observation
  felix_restore_v6_iptables records which version produced the text a cell
  shows. Newer iptables (1.8.9 in #4961's kube-proxy report) first prints the
  kernel's "Warning: Extension MARK revision 0 not supported, missing kernel
  module?", which 1.8.4 did not, then rejects the option in its own words,
  so the cells assert only `option "--set-mark"`, which both print.
  kube-proxy's IPv6 restore fails on its `--xor-mark` (#4961 quotes
  `ip6tables-restore v1.8.9 (nf_tables): unknown option "--xor-mark"` from
  an RKE2 kube-proxy, the same iptables version the lab's nodes run).
  Felix's retry policy is the real one (Table.Apply in felix/iptables/
  table.go, Calico v3.28.1): 10 retries after 1, 2, ... 512 ms (1.023 s in
  real time), then a panic; calico-node's runit restarts Felix and its
  readiness probe (calico-node -felix-ready) keeps failing. The cells watch
  two starts.
  The calico-6.8.0-58 row is a kernel with the upstream fix; that Ubuntu's
  6.8.0-58 is one is the profile's assumption (no source says which Ubuntu
  kernel fixed it).
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
    And observation "felix_restore_v4_backend" should be "legacy"
    And observation "kube_proxy_restore_v4" should be "ok"
    And observation "service_v4_http" should be "200"
    And observation "felix_restore_v6" should be <felix_v6>
    And observation "felix_restore_v6_retries" should be "<retries>"
    And observation "felix_restore_v6_panics" should be "<panics>"
    And observation "felix_restore_v6_calico_node" should be "<calico_node>"
    And observation "kube_proxy_restore_v6" should be <kube_proxy_v6>
    And observation "service_v6_http" should be "<v6_http>"
    And the reported failure is present when observation "service_v6_http" is not "200"
    And the reported failure is present when observation "felix_restore_v6_calico_node" is not "Ready"
    And the reported failure should be <failure>

    Examples:
      | profile         | felix_v6                         | retries | panics | calico_node | kube_proxy_v6                            | v6_http              | failure |
      | calico-6.8.0-55 | "ok"                             | 0       | 0      | Ready       | "ok"                                     | 200                  | absent  |
      | calico-6.8.0-57 | containing "option "--set-mark"" | 10      | 2      | NotReady    | containing "unknown option "--xor-mark"" | timeout\|unreachable | present |
      | calico-6.8.0-58 | "ok"                             | 0       | 0      | Ready       | "ok"                                     | 200                  | absent  |

  Scenario Outline: IPv4-only cluster (IPv6 disabled, the workaround) on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a pod "client" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.10" on port 80 for pod "web"
    When Felix programs its ipv4 rules on "node1" as "felix_restore_v4"
    And kube-proxy syncs the ipv4 Services on "node1" as "kube_proxy_restore_v4"
    And "client" requests HTTP from Service "web" over ipv4 as "service_v4_http"
    Then observation "felix_restore_v4" should be "ok"
    And observation "felix_restore_v4_calico_node" should be "Ready"
    And observation "kube_proxy_restore_v4" should be "ok"
    And the reported failure is present when observation "service_v4_http" is not "200"
    And the reported failure is present when observation "felix_restore_v4_calico_node" is not "Ready"
    And the reported failure should be absent

    Examples:
      | profile         |
      | calico-6.8.0-57 |
