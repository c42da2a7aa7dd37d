// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

interface IERC20 {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// Holds ether and one token per depositor. State is booked before any
/// call out, every call's result is checked, and the token paths run
/// under a reentrancy lock.
contract Vault {
    IERC20 public immutable token;
    mapping(address => uint256) public etherOf;
    mapping(address => uint256) public tokensOf;
    uint256 private locked = 1;

    event Deposited(address indexed who, uint256 amount);
    event Withdrawn(address indexed who, uint256 amount);

    modifier nonReentrant() {
        require(locked == 1, "reentrant call");
        locked = 2;
        _;
        locked = 1;
    }

    constructor(IERC20 token_) {
        token = token_;
    }

    function deposit() external payable {
        etherOf[msg.sender] += msg.value;
        emit Deposited(msg.sender, msg.value);
    }

    function withdraw(uint256 amount) external {
        uint256 balance = etherOf[msg.sender];
        require(balance >= amount, "insufficient balance");
        etherOf[msg.sender] = balance - amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        require(ok, "payment failed");
    }

    function depositTokens(uint256 amount) external nonReentrant {
        require(token.transferFrom(msg.sender, address(this), amount), "transfer failed");
        tokensOf[msg.sender] += amount;
    }

    function withdrawTokens(uint256 amount) external nonReentrant {
        tokensOf[msg.sender] -= amount;
        require(token.transfer(msg.sender, amount), "transfer failed");
    }
}
