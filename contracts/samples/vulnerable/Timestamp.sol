// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Decides on the block's time.
contract TimeLottery {
    uint256 public unlockAt;
    address public winner;

    constructor(uint256 delay) {
        unlockAt = block.timestamp + delay;
    }

    function play() external {
        require(block.timestamp >= unlockAt, "locked"); // expect: timestamp
        if (block.timestamp % 7 == 0) { // expect: timestamp
            winner = msg.sender;
        }
    }
}
