@vocabulary @dns @services
Feature: UDP Services, DNS through a ClusterIP, and kube-proxy's UDP conntrack cleanup
  Written from features/README.md alone: a DNS server pod behind a UDP
  ClusterIP Service (as CoreDNS behind kube-dns), a UDP echo Service whose
  endpoint is replaced while a client keeps sending from one source port:
  real kube-proxy deletes the conntrack entry that still points to the old
  endpoint, so the next datagram reaches the new one.

  Scenario Outline: UDP Services on a Calico node (<profile>)
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "a" on "node1" serving HTTP on port 8080
    And a pod "b" on "node1" serving HTTP on port 8080
    And a pod "app" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.61" on port 80 for pod "a"
    And a DNS server in pod "coredns" on "node1" answering for the Services
    And a ClusterIP Service "kube-dns" with IPs "10.152.183.10" on port 53 for pod "coredns" with protocol UDP
    And a ClusterIP Service "echo" with IPs "10.152.183.60" on port 5353 for pod "a" with protocol UDP
    And kube-proxy runs on "node1"
    When "app" looks up A "web.default.svc.cluster.local" via Service "kube-dns" as "dns"
    And "app" looks up A "nope.default.svc.cluster.local" via Service "kube-dns" as "dns_unknown"
    And "app" sends a UDP datagram from port 40000 to Service "echo" over ipv4 as "first"
    And Service "echo" is now backed by pod "b" as "stale_flows"
    And "app" sends a UDP datagram from port 40000 to Service "echo" over ipv4 as "after_change"
    And I run "<rules>" on "node1" as "rules"
    Then observation "dns" should be "10.152.183.61"
    And observation "dns_unknown" should be "NXDOMAIN"
    And observation "first" should be "ok"
    And observation "first_from" should be "a"
    And observation "stale_flows" should be "0"
    And observation "after_change" should be "ok"
    And observation "after_change_from" should be "b"
    And observation "rules_output" should be containing "<udp_rule>"

    Examples:
      | profile                | rules                           | udp_rule                    |
      | microk8s-1.32-calico   | iptables -t nat -S KUBE-SERVICES | -p udp -m comment --comment "default/echo:udp cluster IP" |
      | microk8s-1.32-nftables | nft list table ip kube-proxy    | 10.152.183.60 . udp . 5353  |
      | microk8s-1.29-wsl2     | iptables -t nat -S KUBE-SERVICES | -p udp -m comment --comment "default/echo:udp cluster IP" |
