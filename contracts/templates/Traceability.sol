// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Traceability
/// @notice The history of an item (a batch of goods, a case file, a
/// certificate) as steps, each with the acting account, the time and what
/// was done. The account that registers an item may let other accounts
/// (the next handlers in the chain) record steps. Steps are never changed
/// or removed; they are read back one by one or a page at a time.
contract Traceability {
    /// One step of an item's history.
    struct Step {
        address actor;
        uint64 timestamp;
        uint64 blockNumber;
        string action;
        string location;
        string data;
    }

    uint256 public constant MAX_TEXT = 2048;
    uint256 public constant MAX_PAGE = 100;

    mapping(bytes32 => address) public ownerOf;
    mapping(bytes32 => string) public descriptionOf;
    mapping(bytes32 => mapping(address => bool)) public isHandler;
    mapping(bytes32 => Step[]) private history;

    event ItemRegistered(bytes32 indexed itemId, address indexed owner, string description);
    event HandlerSet(bytes32 indexed itemId, address indexed handler, bool allowed);
    event StepRecorded(bytes32 indexed itemId, uint256 indexed index, address indexed actor, string action);

    error AlreadyRegistered(bytes32 itemId);
    error UnknownItem(bytes32 itemId);
    error NotOwner(bytes32 itemId);
    error NotHandler(bytes32 itemId, address actor);
    error TextTooLong();
    error NoSuchStep(bytes32 itemId, uint256 index);

    /// Registers `itemId`; its first step is the registration.
    function register(bytes32 itemId, string calldata description, string calldata location) external {
        if (ownerOf[itemId] != address(0)) revert AlreadyRegistered(itemId);
        if (bytes(description).length > MAX_TEXT) revert TextTooLong();
        ownerOf[itemId] = msg.sender;
        descriptionOf[itemId] = description;
        emit ItemRegistered(itemId, msg.sender, description);
        _append(itemId, "registered", location, "");
    }

    /// Lets `handler` record steps of `itemId`, or stops it.
    function setHandler(bytes32 itemId, address handler, bool allowed) external {
        if (ownerOf[itemId] == address(0)) revert UnknownItem(itemId);
        if (ownerOf[itemId] != msg.sender) revert NotOwner(itemId);
        isHandler[itemId][handler] = allowed;
        emit HandlerSet(itemId, handler, allowed);
    }

    /// Records a step of `itemId` by its owner or a handler; returns its
    /// index.
    function record(bytes32 itemId, string calldata action, string calldata location, string calldata data)
        external
        returns (uint256)
    {
        address owner = ownerOf[itemId];
        if (owner == address(0)) revert UnknownItem(itemId);
        if (owner != msg.sender && !isHandler[itemId][msg.sender]) revert NotHandler(itemId, msg.sender);
        return _append(itemId, action, location, data);
    }

    /// How many steps `itemId` has.
    function stepCount(bytes32 itemId) external view returns (uint256) {
        return history[itemId].length;
    }

    /// Step `index` of `itemId`.
    function step(bytes32 itemId, uint256 index) external view returns (Step memory) {
        Step[] storage h = history[itemId];
        if (index >= h.length) revert NoSuchStep(itemId, index);
        return h[index];
    }

    /// Up to `limit` (at most `MAX_PAGE`) steps of `itemId` from `offset`.
    function steps(bytes32 itemId, uint256 offset, uint256 limit) external view returns (Step[] memory page) {
        Step[] storage h = history[itemId];
        uint256 available = offset < h.length ? h.length - offset : 0;
        uint256 n = limit < available ? limit : available;
        if (n > MAX_PAGE) n = MAX_PAGE;
        page = new Step[](n);
        for (uint256 i = 0; i < n; i++) {
            page[i] = h[offset + i];
        }
    }

    function _append(bytes32 itemId, string memory action, string memory location, string memory data)
        private
        returns (uint256 index)
    {
        if (bytes(action).length > MAX_TEXT || bytes(location).length > MAX_TEXT || bytes(data).length > MAX_TEXT) {
            revert TextTooLong();
        }
        Step[] storage h = history[itemId];
        index = h.length;
        h.push(Step(msg.sender, uint64(block.timestamp), uint64(block.number), action, location, data));
        emit StepRecorded(itemId, index, msg.sender, action);
    }
}
