// Counters of everything the stack drops, answers, sends again or gives up on. One object per stack
// (per shard), plain numeric fields: cheap to bump on hot paths and to export as metrics.

export class StackCounters {
  // Ethernet
  rxFrames = 0;
  rxBadEthernet = 0;
  /** Unicast to another MAC, or multicast. */
  rxNotOurMac = 0;
  /** VLAN-tagged frames (the stack runs on untagged ports). */
  rxVlanTagged = 0;
  rxUnknownEtherType = 0;
  /** Exceptions caught at the receive() and accepts() boundaries; must stay 0 (a parser bug otherwise). */
  rxExceptions = 0;
  txFrames = 0;

  // ARP
  arpRxRequest = 0;
  arpRxReply = 0;
  arpBad = 0;
  arpTxRequest = 0;
  arpTxReply = 0;
  /** Someone else claims one of our addresses. */
  arpConflict = 0;
  /** Entries added or changed by what we heard (onNeighbor fires for these). */
  arpLearned = 0;
  /** Packets dropped because the per-neighbour or total queue waiting for resolution was full. */
  arpQueueDrop = 0;
  /** Packets dropped because the neighbour never answered. */
  arpUnresolvedDrop = 0;

  // IPv4
  ipRx = 0;
  ipBadHeader = 0;
  ipBadChecksum = 0;
  /** Martian sources (broadcast, multicast, one of ours). */
  ipBadSource = 0;
  ipNotForUs = 0;
  ipUnknownProtocol = 0;
  ipTx = 0;
  ipNoRoute = 0;
  /** Datagrams larger than the MTU with DF set (the stack's own; TCP never makes them). */
  ipTxTooBig = 0;
  ipFragRx = 0;
  ipReassembled = 0;
  ipReassemblyTimeout = 0;
  /** Fragments dropped: datagram or byte limit, too big, inconsistent with earlier fragments. */
  ipFragDropped = 0;
  /** Fragments made from outgoing datagrams. */
  ipFragTx = 0;

  // ICMP
  icmpRx = 0;
  icmpBad = 0;
  icmpEchoRx = 0;
  icmpEchoReplyTx = 0;
  icmpEchoReplyRx = 0;
  icmpErrorRx = 0;
  icmpUnreachableTx = 0;
  icmpRateLimited = 0;

  // UDP
  udpRx = 0;
  udpBad = 0;
  udpBadChecksum = 0;
  udpNoPort = 0;
  /** Datagrams dropped because the socket's receive queue was full. */
  udpRxQueueDrop = 0;
  udpTx = 0;
  /** sendTo() refused: send queue full or datagram too large. */
  udpTxDrop = 0;

  // TCP
  tcpRx = 0;
  tcpBad = 0;
  tcpBadChecksum = 0;
  tcpTx = 0;
  /** Segments to a port nobody listens on and no connection holds. */
  tcpNoSocket = 0;
  tcpRstRx = 0;
  tcpRstTx = 0;
  /** SYNs dropped: the listener's accept queue was full. */
  tcpListenOverflow = 0;
  /** SYNs dropped: too many half-open connections on the listener. */
  tcpSynQueueOverflow = 0;
  /** SYN-ACKs sent with a SYN cookie (the half-open limit was reached). */
  tcpSynCookiesSent = 0;
  /** Handshake ACKs whose cookie was valid: connections opened without a half-open entry. */
  tcpSynCookiesRecv = 0;
  /** ACKs to a listener that matched no connection and carried no valid cookie (while cookies were in use). */
  tcpSynCookiesFailed = 0;
  tcpActiveOpens = 0;
  tcpPassiveOpens = 0;
  tcpEstablished = 0;
  /** Segments failing the sequence acceptability test (answered with an ACK). */
  tcpNotAcceptable = 0;
  /** Segments dropped by PAWS (RFC 7323 5). */
  tcpPawsDrop = 0;
  /** ACKs sent in answer to in-window RST/SYN or out-of-range ACKs (RFC 5961). */
  tcpChallengeAcks = 0;
  tcpDupAcksRx = 0;
  tcpOutOfOrder = 0;
  /** Out-of-order segments dropped because the assembler had no room for another range. */
  tcpOooDrop = 0;
  /** Data segments sent again (any reason). */
  tcpRetransmits = 0;
  /** retransmissions a sender module (e.g. Halfback) asked for before any loss was detected */
  tcpProactiveRetransmits = 0;
  tcpRtoExpired = 0;
  tcpFastRetransmits = 0;
  tcpPartialAcks = 0;
  tcpDelayedAcks = 0;
  tcpPersistProbes = 0;
  tcpKeepAliveProbes = 0;
  /** Connections given up after too many retransmissions, keep-alives or SYNs. */
  tcpTimeouts = 0;
  /** Connections reset by the peer. */
  tcpResets = 0;
  /** Data arriving on a socket the user closed: answered by RST (as Linux does). */
  tcpAbortOnData = 0;
  /** TIME-WAIT connections ended early by a new SYN (RFC 6191). */
  tcpTimeWaitReused = 0;
}
