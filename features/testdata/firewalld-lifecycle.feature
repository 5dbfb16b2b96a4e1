@vocabulary @firewalld
Feature: firewalld's lifecycle and recorded commands
  Written from features/README.md alone: firewalld stopped and started
  (holding kube-proxy's re-sync), commands whose result is an observation,
  commands run inside a pod. kube-proxy writes legacy rules (MicroK8s'
  bundled iptables, the rhel-9.5 profile's iptables.mode): firewalld's stop
  and start touch nftables only, so kube-proxy's rules and Services stay.

  Scenario Outline: firewalld stop and start on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a ClusterIP Service "web" with IPs "10.152.183.10" on port 80 for pod "web"
    And kube-proxy runs on "node1"
    When firewalld is stopped on "node1" before kube-proxy re-syncs as "after_stop"
    And kube-proxy re-syncs on "node1"
    And I run "nft list tables" on "node1" as "tables_stopped"
    And firewalld is started on "node1" before kube-proxy re-syncs as "after_start"
    And I run "iptables -t nat -S KUBE-SERVICES" on "node1" as "services_chain"
    And "node1" requests HTTP from Service "web" over ipv4 as "service_while_held"
    And kube-proxy re-syncs on "node1"
    And "node1" requests HTTP from Service "web" over ipv4 as "service_resynced"
    And I run "ip -4 route show" in pod "web" as "pod_routes"
    And I run "cat /proc/sys/net/ipv4/conf/eth0/forwarding" in pod "web"
    And I run "false" on "node1" as "false"
    And I run "no-such-command-in-the-lab" on "node1" as "missing"
    Then observation "after_stop" should be "<after_stop>"
    And observation "tables_stopped_exit" should be "0"
    And observation "after_start" should be "<after_start>"
    And observation "services_chain_exit" should be "<services_exit>"
    And observation "service_while_held" should be "<while_held>"
    And observation "service_resynced" should be "200"
    And observation "pod_routes_output" should be containing "default via 169.254.1.1"
    And observation "false_exit" should be "1"
    And observation "missing_exit" should be "127"

    Examples:
      | profile  | after_stop | after_start | services_exit | while_held |
      | rhel-9.5 | kept       | kept        | 0             | 200        |
