// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Evidence storage
/// @notice Stores the hash of a document with its metadata and submitter,
/// once per hash, so anyone holding the document can later prove it
/// existed unchanged at that time: hash the file (SM3, SHA-256, ...) and
/// call `verify`. A submitter may revoke its own record, with a reason;
/// the record stays readable.
contract Evidence {
    /// One stored document.
    struct Record {
        bytes32 docHash;
        string algorithm;
        string title;
        string metadata;
        address submitter;
        uint64 timestamp;
        uint64 blockNumber;
        bool revoked;
        string revokeReason;
    }

    uint256 public constant MAX_TEXT = 4096;

    mapping(bytes32 => Record) private records;
    uint256 public count;

    event EvidenceStored(
        bytes32 indexed docHash, address indexed submitter, string algorithm, string title, uint64 timestamp
    );
    event EvidenceRevoked(bytes32 indexed docHash, address indexed submitter, string reason);

    error EmptyHash();
    error TextTooLong();
    error AlreadyStored(bytes32 docHash, address submitter);
    error NotFound(bytes32 docHash);
    error NotSubmitter(bytes32 docHash);
    error AlreadyRevoked(bytes32 docHash);

    /// Stores `docHash` (the document's digest under `algorithm`) with a
    /// title and free metadata (JSON, say).
    function store(bytes32 docHash, string calldata algorithm, string calldata title, string calldata metadata)
        external
    {
        if (docHash == bytes32(0)) revert EmptyHash();
        if (bytes(algorithm).length > 32 || bytes(title).length > MAX_TEXT || bytes(metadata).length > MAX_TEXT) {
            revert TextTooLong();
        }
        Record storage r = records[docHash];
        if (r.submitter != address(0)) revert AlreadyStored(docHash, r.submitter);
        r.docHash = docHash;
        r.algorithm = algorithm;
        r.title = title;
        r.metadata = metadata;
        r.submitter = msg.sender;
        r.timestamp = uint64(block.timestamp);
        r.blockNumber = uint64(block.number);
        count += 1;
        emit EvidenceStored(docHash, msg.sender, algorithm, title, r.timestamp);
    }

    /// Whether `docHash` is stored and not revoked, with who stored it
    /// and when.
    function verify(bytes32 docHash) external view returns (bool valid, address submitter, uint64 timestamp) {
        Record storage r = records[docHash];
        return (r.submitter != address(0) && !r.revoked, r.submitter, r.timestamp);
    }

    /// The whole record of `docHash`.
    function get(bytes32 docHash) external view returns (Record memory) {
        Record storage r = records[docHash];
        if (r.submitter == address(0)) revert NotFound(docHash);
        return r;
    }

    /// Marks the caller's own record as revoked, with a reason.
    function revoke(bytes32 docHash, string calldata reason) external {
        Record storage r = records[docHash];
        if (r.submitter == address(0)) revert NotFound(docHash);
        if (r.submitter != msg.sender) revert NotSubmitter(docHash);
        if (r.revoked) revert AlreadyRevoked(docHash);
        if (bytes(reason).length > MAX_TEXT) revert TextTooLong();
        r.revoked = true;
        r.revokeReason = reason;
        emit EvidenceRevoked(docHash, msg.sender, reason);
    }
}
