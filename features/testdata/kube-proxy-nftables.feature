@vocabulary @services
Feature: kube-proxy in nftables mode
  Written from features/README.md alone: the profiles pin kube_proxy.mode
  nftables, so kube-proxy runs Kubernetes' nftables Proxier of the
  profile's release (v1.29 with its feature gate, v1.32 beta). A ClusterIP
  Service over TCP and over UDP and a NodePort, reached through the rules
  it writes in table ip kube-proxy, and no KUBE-SERVICES chain in iptables.

  Scenario Outline: ClusterIP and NodePort in nftables mode (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a client "client" on the public network
    And a pod "web" on "node1" serving HTTP on port 8080
    And a pod "app" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.50" on port 80 for pod "web"
    And a ClusterIP Service "echo" with IPs "10.152.183.51" on port 5353 for pod "web" with protocol UDP
    And a NodePort Service "np" with IPs "10.152.183.52" on port 80 and node port 30080 for pod "web"
    And kube-proxy runs on "node1"
    When "app" requests HTTP from Service "web" over ipv4 as "cluster_ip"
    And "app" sends a UDP datagram to Service "echo" over ipv4 as "udp_service"
    And "client" requests path "/" on port 30080 of the public address of "node1" as "nodeport"
    And I run "nft list table ip kube-proxy" on "node1" as "ruleset"
    And I run "iptables -t nat -S KUBE-SERVICES" on "node1" as "iptables_chain"
    Then observation "cluster_ip" should be "200"
    And observation "udp_service" should be "ok"
    And observation "udp_service_from" should be "web"
    And observation "nodeport" should be "200"
    And observation "ruleset_exit" should be "0"
    And observation "ruleset_output" should be containing "10.152.183.50 . tcp . 80 : goto service-"
    And observation "ruleset_output" should be containing "10.152.183.51 . udp . 5353 : goto service-"
    And observation "ruleset_output" should be containing "tcp . 30080 : goto external-"
    And observation "iptables_chain_exit" should be "1"

    Examples:
      | profile                |
      | microk8s-1.32-nftables |
      | microk8s-1.29-nftables |

  Scenario Outline: one dual-stack sync per family in nftables mode (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16,fd01::/64"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a pod "app" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.10,fd98::10" on port 80 for pod "web"
    When kube-proxy syncs the ipv6 Services on "node1" as "sync_v6"
    And kube-proxy syncs the ipv4 Services on "node1" as "sync_v4"
    And "app" requests HTTP from Service "web" over ipv6 as "service_v6"
    And "app" requests HTTP from Service "web" over ipv4 as "service_v4"
    And I run "nft list table ip6 kube-proxy" on "node1" as "ruleset_v6"
    Then observation "sync_v6" should be "ok"
    And observation "sync_v4" should be "ok"
    And observation "service_v6" should be "200"
    And observation "service_v4" should be "200"
    And observation "ruleset_v6_output" should be containing "fd98::10 . tcp . 80 : goto service-"

    Examples:
      | profile                |
      | microk8s-1.32-nftables |
      | microk8s-1.29-nftables |
