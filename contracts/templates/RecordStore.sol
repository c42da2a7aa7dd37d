// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Records retrievable by transaction reference
/// @notice A department's business system files records (a filing, an
/// approval, a payment notice), each under the reference of the business
/// transaction it belongs to (its serial number, e.g. "2026-GA-000123"),
/// and reads them back by that reference. Each record also gets an id
/// (`keccak256` of the reference), returned by `submit` and logged in the
/// `RecordSubmitted` event of the submitting chain transaction, so a
/// record is found from the chain transaction's hash too: its receipt
/// carries the event with the id. Records are never changed; a correction
/// is a new record that supersedes the old one, and both stay readable.
/// The deploying account administers which accounts may file.
contract RecordStore {
    /// One record.
    struct Record {
        bytes32 id;
        uint256 seq;
        string txRef;
        string category;
        bytes32 contentHash;
        string content;
        address submitter;
        uint64 timestamp;
        uint64 blockNumber;
        bytes32 supersedes;
        bytes32 supersededBy;
    }

    uint256 public constant MAX_REF = 128;
    uint256 public constant MAX_TEXT = 8192;

    address public admin;
    mapping(address => bool) public isWriter;
    mapping(bytes32 => Record) private records;
    bytes32[] private bySeq;

    event WriterSet(address indexed writer, bool allowed);
    event AdminChanged(address indexed previous, address indexed next);
    event RecordSubmitted(
        bytes32 indexed id, uint256 indexed seq, address indexed submitter, string txRef, bytes32 contentHash
    );
    event RecordCorrected(bytes32 indexed previousId, bytes32 indexed id);

    error NotAdmin();
    error NotWriter(address account);
    error BadReference();
    error TextTooLong();
    error Duplicate(bytes32 id);
    error NotFound(bytes32 id);
    error AlreadySuperseded(bytes32 id, bytes32 by);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin();
        _;
    }

    constructor() {
        admin = msg.sender;
        isWriter[msg.sender] = true;
        emit WriterSet(msg.sender, true);
    }

    /// Lets `writer` file records, or stops it.
    function setWriter(address writer, bool allowed) external onlyAdmin {
        isWriter[writer] = allowed;
        emit WriterSet(writer, allowed);
    }

    /// Hands administration to `next`.
    function changeAdmin(address next) external onlyAdmin {
        emit AdminChanged(admin, next);
        admin = next;
    }

    /// The id of the record filed under `txRef`.
    function idOf(string calldata txRef) public pure returns (bytes32) {
        return keccak256(bytes(txRef));
    }

    /// Files a record under the business transaction reference `txRef`;
    /// returns its id and sequence number (from 1).
    function submit(string calldata txRef, string calldata category, bytes32 contentHash, string calldata content)
        external
        returns (bytes32 id, uint256 seq)
    {
        return _file(txRef, category, contentHash, content, bytes32(0));
    }

    /// Files a record under `txRef` that corrects the one under `previousRef`.
    function correct(
        string calldata previousRef,
        string calldata txRef,
        string calldata category,
        bytes32 contentHash,
        string calldata content
    ) external returns (bytes32 id, uint256 seq) {
        bytes32 previous = idOf(previousRef);
        Record storage old = records[previous];
        if (old.seq == 0) revert NotFound(previous);
        if (old.supersededBy != bytes32(0)) revert AlreadySuperseded(previous, old.supersededBy);
        (id, seq) = _file(txRef, category, contentHash, content, previous);
        old.supersededBy = id;
        emit RecordCorrected(previous, id);
    }

    /// The record filed under `txRef`.
    function getByRef(string calldata txRef) external view returns (Record memory) {
        return get(idOf(txRef));
    }

    /// The record with id `id`.
    function get(bytes32 id) public view returns (Record memory) {
        Record storage r = records[id];
        if (r.seq == 0) revert NotFound(id);
        return r;
    }

    /// The `seq`-th record filed (from 1).
    function getBySeq(uint256 seq) external view returns (Record memory) {
        if (seq == 0 || seq > bySeq.length) revert NotFound(bytes32(seq));
        return records[bySeq[seq - 1]];
    }

    /// Whether a record is filed under `txRef`.
    function exists(string calldata txRef) external view returns (bool) {
        return records[idOf(txRef)].seq != 0;
    }

    /// How many records are filed.
    function total() external view returns (uint256) {
        return bySeq.length;
    }

    function _file(
        string calldata txRef,
        string calldata category,
        bytes32 contentHash,
        string calldata content,
        bytes32 supersedes
    ) private returns (bytes32 id, uint256 seq) {
        if (!isWriter[msg.sender]) revert NotWriter(msg.sender);
        uint256 refLength = bytes(txRef).length;
        if (refLength == 0 || refLength > MAX_REF) revert BadReference();
        if (bytes(category).length > MAX_REF || bytes(content).length > MAX_TEXT) revert TextTooLong();
        id = idOf(txRef);
        Record storage r = records[id];
        if (r.seq != 0) revert Duplicate(id);
        bySeq.push(id);
        seq = bySeq.length;
        r.id = id;
        r.seq = seq;
        r.txRef = txRef;
        r.category = category;
        r.contentHash = contentHash;
        r.content = content;
        r.submitter = msg.sender;
        r.timestamp = uint64(block.timestamp);
        r.blockNumber = uint64(block.number);
        r.supersedes = supersedes;
        emit RecordSubmitted(id, seq, msg.sender, txRef, contentHash);
    }
}
