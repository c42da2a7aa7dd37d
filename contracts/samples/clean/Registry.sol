// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// A list of licensed organizations kept by an owner, read a page at a time.
contract Registry {
    struct Entry {
        address account;
        string name;
        bool active;
    }

    address public owner;
    Entry[] private entries;
    mapping(address => uint256) public indexOf;

    event Listed(address indexed account, string name);
    event Delisted(address indexed account);
    event OwnerChanged(address indexed previous, address indexed next);

    error NotOwner();
    error Known(address account);
    error Unknown(address account);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor() {
        owner = msg.sender;
    }

    function changeOwner(address next) external onlyOwner {
        emit OwnerChanged(owner, next);
        owner = next;
    }

    function list(address account, string calldata name) external onlyOwner {
        if (indexOf[account] != 0) revert Known(account);
        entries.push(Entry(account, name, true));
        indexOf[account] = entries.length;
        emit Listed(account, name);
    }

    function delist(address account) external onlyOwner {
        uint256 i = indexOf[account];
        if (i == 0) revert Unknown(account);
        entries[i - 1].active = false;
        emit Delisted(account);
    }

    function size() external view returns (uint256) {
        return entries.length;
    }

    function page(uint256 offset, uint256 limit) external view returns (Entry[] memory out) {
        uint256 end = offset + (limit > 100 ? 100 : limit);
        if (end > entries.length) end = entries.length;
        uint256 n = end > offset ? end - offset : 0;
        out = new Entry[](n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = entries[offset + i];
        }
    }
}
