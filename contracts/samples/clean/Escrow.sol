// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Holds a payment until the buyer confirms, or refunds it after a
/// deadline (a deadline of days, where the block time's leeway does not
/// matter: reported as low).
contract Escrow {
    address public immutable buyer;
    address payable public immutable seller;
    uint256 public immutable deadline;
    bool public settled;

    event Settled(address indexed to, uint256 amount);

    constructor(address payable seller_, uint256 daysToConfirm) payable {
        buyer = msg.sender;
        seller = seller_;
        deadline = block.timestamp + daysToConfirm * 1 days;
    }

    function confirm() external {
        require(msg.sender == buyer, "only the buyer");
        _settle(seller);
    }

    function refund() external {
        require(msg.sender == buyer, "only the buyer");
        require(block.timestamp > deadline, "too early");
        _settle(payable(buyer));
    }

    function _settle(address payable to) private {
        require(!settled, "settled");
        settled = true;
        uint256 amount = address(this).balance;
        emit Settled(to, amount);
        (bool ok, ) = to.call{value: amount}("");
        require(ok, "payment failed");
    }
}
