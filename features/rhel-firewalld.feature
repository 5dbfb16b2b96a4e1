@microk8s-4903 @firewalld @ingress @calico
Feature: On RHEL with firewalld an ingress reaches a pod through its Service but not through its pod IP
  On RHEL 9.5 (firewalld 1.3, nftables backend, default zone public) an
  ingress returns 502 for a path whose backend it reaches by pod IP, while a
  path going through the backend's ClusterIP Service returns 200; the same
  setup on Ubuntu 22.04 returns 200 for both (upstream:
  canonical/microk8s#4903, which does not name the cause). The lab's
  hypothesis, which these cells test: firewalld's forward chain accepts
  DNATed traffic (`ct status dnat accept`), so Service traffic passes, but
  routed pod-to-pod traffic between cali* interfaces, which are in no zone,
  falls into the default zone's forward chain and is rejected with icmpx
  admin-prohibited: the ingress's connect fails at once and it answers 502.
  Fix: put the pod network in the trusted zone, `firewall-cmd --permanent
  --zone=trusted --add-source=10.1.0.0/16 && firewall-cmd --reload`.
  MicroK8s' kube-proxy writes legacy iptables rules (the snap's bundled
  iptables), which firewalld's reload never flushes (and RHEL 9.3+'s
  firewalld, with the backport of firewalld#1082, flushes no iptables rules
  at all): the reload leaves kube-proxy's rules in place and Services stay
  up.
  Topology: a Calico node (routed pods, proxy ARP, /32 routes) with the app
  pod "zeus" (HTTP on 8080) behind ClusterIP 10.152.183.39:80, an ingress
  pod (a real reverse proxy) proxying /svc to that Service and /setup to the
  pod IP, published on NodePort 30080, and a client on the public network.

  Scenario Outline: ingress to a Service and to a pod IP on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a client "client" on the public network
    And a pod "zeus" on "node1" serving HTTP on port 8080
    And a ClusterIP Service "zeus" with IPs "10.152.183.39" on port 80 for pod "zeus"
    And an ingress pod "ingress" on "node1" listening on port 80 with routes "/svc=service:zeus,/setup=pod:zeus"
    And a NodePort Service "ingress" with IPs "10.152.183.40" on port 80 and node port 30080 for pod "ingress"
    And kube-proxy runs on "node1"
    When "client" requests path "/svc" on port 30080 of the public address of "node1" as "ingress_via_service"
    And "client" requests path "/setup" on port 30080 of the public address of "node1" as "ingress_via_pod_ip"
    And I trace a TCP connection from pod "ingress" to pod "zeus" on "node1" as "pod_ip_rejected_by"
    Then observation "ingress_via_service" should be "200"
    And observation "ingress_via_pod_ip" should be "<pod_ip>"
    And observation "pod_ip_rejected_by" should be <rejected_by>
    And the reported failure is present when observation "ingress_via_pod_ip" is not "200"
    And the reported failure should be <failure>

    Examples:
      | profile      | pod_ip | rejected_by                                     | failure |
      | ubuntu-22.04 | 200    | "none"                                          | absent  |
      | rhel-9.5     | 502    | containing "reject with icmpx admin-prohibited" | present |
      | rhel-9.5-bullseye | 502 | containing "admin-prohibited"                 | present |
      | rhel-9.5-trixie   | 502 | containing "admin-prohibited"                 | present |

  Scenario Outline: the trusted-zone fix; the reload leaves kube-proxy's rules alone, on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a client "client" on the public network
    And a pod "zeus" on "node1" serving HTTP on port 8080
    And a ClusterIP Service "zeus" with IPs "10.152.183.39" on port 80 for pod "zeus"
    And an ingress pod "ingress" on "node1" listening on port 80 with routes "/svc=service:zeus,/setup=pod:zeus"
    And a NodePort Service "ingress" with IPs "10.152.183.40" on port 80 and node port 30080 for pod "ingress"
    And kube-proxy runs on "node1"
    When I run "firewall-cmd --permanent --zone=trusted --add-source=10.1.0.0/16" on "node1"
    And firewalld is reloaded on "node1" before kube-proxy re-syncs as "kube_proxy_rules_after_reload"
    And "client" requests path "/svc" on port 30080 of the public address of "node1" as "ingress_after_reload"
    And "client" requests path "/svc" on port 30080 of the public address of "node1" as "ingress_via_service"
    And "client" requests path "/setup" on port 30080 of the public address of "node1" as "ingress_via_pod_ip"
    And I trace a TCP connection from pod "ingress" to pod "zeus" on "node1" as "pod_ip_rejected_by"
    Then observation "kube_proxy_rules_after_reload" should be "kept"
    And observation "ingress_after_reload" should be "200"
    And observation "ingress_via_service" should be "200"
    And observation "ingress_via_pod_ip" should be "200"
    And observation "pod_ip_rejected_by" should be "none"
    And the reported failure is present when observation "ingress_via_pod_ip" is not "200"
    And the reported failure should be absent

    Examples:
      | profile  |
      | rhel-9.5 |
