// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

interface IRewards {
    function payout(address to) external;
}

/// A bank that pays out before it books: every state write after the
/// call can be raced by a re-entering caller.
contract ReentrantBank {
    mapping(address => uint256) public balances;
    mapping(address => bool) public claimed;
    uint256 public totalDeposits;

    function deposit() external payable {
        balances[msg.sender] += msg.value;
        totalDeposits += msg.value;
    }

    function withdraw() external {
        uint256 amount = balances[msg.sender];
        require(amount > 0, "nothing to withdraw");
        (bool ok, ) = msg.sender.call{value: amount}("");
        require(ok, "transfer failed");
        balances[msg.sender] = 0; // expect: reentrancy
        totalDeposits -= amount; // expect: reentrancy
    }

    function claim(IRewards rewards) external {
        require(!claimed[msg.sender], "claimed");
        rewards.payout(msg.sender);
        claimed[msg.sender] = true; // expect: reentrancy
    }

    function pay(address payable to) external {
        uint256 amount = balances[to];
        if (amount > 0) {
            to.transfer(amount);
        }
        delete balances[to]; // expect: reentrancy
    }

    /// Books first, then pays: not reported.
    function withdrawSafely() external {
        uint256 amount = balances[msg.sender];
        balances[msg.sender] = 0;
        totalDeposits -= amount;
        (bool ok, ) = msg.sender.call{value: amount}("");
        require(ok, "transfer failed");
    }

    /// The call is on one branch and the write on the other: not reported.
    function either(bool payNow) external {
        if (payNow) {
            (bool ok, ) = msg.sender.call("");
            require(ok, "failed");
        } else {
            totalDeposits += 1;
        }
    }
}
